import { ConsoleLogger, LogLevel } from '@nestjs/common';

export interface LogEntry {
  readonly level: LogLevel;
  readonly context: string | undefined;
  readonly message: string;
}

/**
 * Records every log line so tests can assert on warnings; prints them only
 * when UNDERWAY_TEST_LOG is set (`UNDERWAY_TEST_LOG=1 npm test`).
 */
export class CaptureLogger extends ConsoleLogger {
  readonly entries: LogEntry[] = [];
  private readonly print = !!process.env.UNDERWAY_TEST_LOG;

  constructor() {
    super();
    this.setLogLevels(['log', 'error', 'warn', 'debug', 'verbose', 'fatal']);
  }

  override log(message: unknown, context?: string): void {
    this.capture('log', message, context);
  }
  override warn(message: unknown, context?: string): void {
    this.capture('warn', message, context);
  }
  override error(
    message: unknown,
    stackOrContext?: string,
    context?: string,
  ): void {
    this.capture('error', message, context ?? stackOrContext);
  }
  override debug(message: unknown, context?: string): void {
    this.capture('debug', message, context);
  }
  override verbose(message: unknown, context?: string): void {
    this.capture('verbose', message, context);
  }

  messages(level?: LogLevel): string[] {
    return this.entries
      .filter((entry) => !level || entry.level === level)
      .map((entry) => entry.message);
  }

  private capture(level: LogLevel, message: unknown, context?: string): void {
    const text = typeof message === 'string' ? message : String(message);
    this.entries.push({ level, context, message: text });
    if (this.print) {
      super[level === 'fatal' ? 'error' : level](text, context);
    }
  }
}
