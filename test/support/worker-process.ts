import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { FAULT_ENV, FaultEvent, StepEvent } from '../fault-worker/protocol';

/**
 * A worker as a real child process (test/fault-worker/main.ts), for the
 * fault suite: the test can SIGKILL, SIGSTOP, SIGCONT or SIGTERM it, and
 * waits on the JSON events it prints (`FaultEvent`).
 */

const REPO_ROOT = resolve(__dirname, '..', '..');
const ENTRY = 'test/fault-worker/main.ts';
/** Lines of raw output kept for failure messages. */
const TAIL_LINES = 80;

export interface WorkerOptions {
  readonly url: string;
  readonly schema: string;
  readonly instance: string;
  /** The lease (`defaults.heartbeat`). Must match the producer's. */
  readonly leaseMs: number;
  readonly pollMs?: number;
  readonly concurrency?: number;
  /** `runtime.prefetch`. */
  readonly prefetch?: number;
  readonly shutdownTimeoutMs?: number;
  readonly maintenanceMs?: number;
  readonly reconnectInitialMs?: number;
  readonly reconnectMaxMs?: number;
  /** Workflow names to register (default: all but `fault-ghost`). */
  readonly workflows?: readonly string[];
  /** `false`: no step-started/step-finished events (big runs). */
  readonly stepEvents?: boolean;
  readonly stepSleepMs?: number;
  /** Where Underway connects (a proxy, say); its steps' effects still go to `url`. */
  readonly underwayUrl?: string;
  /** `connections.statementTimeout`, ms. */
  readonly statementTimeoutMs?: number;
  /** Install an OpenTelemetry SDK in the child that prints its spans (`span` events). */
  readonly traces?: boolean;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export type { StepEvent };
type LogEvent = Extract<FaultEvent, { event: 'log' }>;

interface Waiter {
  check(): boolean;
}

export class WorkerProcess {
  readonly events: FaultEvent[] = [];
  readonly exited: Promise<Exit>;
  readonly startedAt = Date.now();
  private readonly tail: string[] = [];
  private readonly waiters = new Set<Waiter>();
  private buffer = '';
  private exit: Exit | undefined;
  private sawReady = false;

  constructor(
    readonly options: WorkerOptions,
    readonly child: ChildProcess,
  ) {
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.onStdout(chunk));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => this.remember(chunk));
    this.exited = new Promise<Exit>((resolveExit) =>
      child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        this.notify();
        resolveExit(this.exit);
      }),
    );
  }

  get instance(): string {
    return this.options.instance;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** It printed `ready` (the app context is up). */
  get isReady(): boolean {
    return this.sawReady;
  }

  /** Running (a stopped process counts as alive). */
  get alive(): boolean {
    return this.exit === undefined;
  }

  get exitStatus(): Exit | undefined {
    return this.exit;
  }

  /** The last lines the child printed, for failure messages. */
  output(): string {
    return `--- ${this.instance} (pid ${this.pid}) ---\n${this.tail.join('\n')}`;
  }

  logs(level?: string): string[] {
    return this.events
      .filter(
        (e): e is LogEvent =>
          e.event === 'log' && (level === undefined || e.level === level),
      )
      .map((e) => e.message);
  }

  steps(kind: 'step-started' | 'step-finished' = 'step-started'): StepEvent[] {
    return this.events.filter((e): e is StepEvent => e.event === kind);
  }

  /** `uncaught` and `boot-failed` events: a crash of library code (I7). */
  crashes(): FaultEvent[] {
    return this.events.filter(
      (e) => e.event === 'uncaught' || e.event === 'boot-failed',
    );
  }

  kill(signal: NodeJS.Signals): void {
    if (this.alive) {
      this.child.kill(signal);
    }
  }

  /**
   * Resolves with the first value `pick` returns for an event (past or
   * future); rejects at the deadline or when the process exits first.
   */
  waitForEvent<T>(
    pick: (event: FaultEvent) => T | undefined,
    { timeoutMs = 15_000, what = 'an event' } = {},
  ): Promise<T> {
    let seen = 0;
    return this.waitUntil(
      () => {
        for (; seen < this.events.length; seen += 1) {
          const value = pick(this.events[seen] as FaultEvent);
          if (value !== undefined) {
            return { value };
          }
        }
        return undefined;
      },
      { timeoutMs, what },
    );
  }

  ready(timeoutMs = 30_000): Promise<void> {
    return this.waitForEvent((e) => (e.event === 'ready' ? true : undefined), {
      timeoutMs,
      what: 'ready',
    }).then(() => undefined);
  }

  /** The first log line (of `level`, if given) matching `pattern`. */
  waitForLog(
    pattern: RegExp | string,
    { level, timeoutMs = 15_000 }: { level?: string; timeoutMs?: number } = {},
  ): Promise<string> {
    const matches = (message: string): boolean =>
      typeof pattern === 'string'
        ? message.includes(pattern)
        : pattern.test(message);
    return this.waitForEvent(
      (e) =>
        e.event === 'log' &&
        (level === undefined || e.level === level) &&
        matches(e.message)
          ? e.message
          : undefined,
      { timeoutMs, what: `a log line matching ${String(pattern)}` },
    );
  }

  /** SIGTERM, then waits for the exit (SIGKILL at the deadline). */
  async stop(timeoutMs = 20_000): Promise<Exit> {
    this.kill('SIGCONT');
    this.kill('SIGTERM');
    return this.exitWithin(timeoutMs);
  }

  /** Waits for the process to exit; SIGKILLs it (and fails) past the deadline. */
  async exitWithin(timeoutMs: number): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolveLate) => {
      timer = setTimeout(() => resolveLate('late'), timeoutMs);
    });
    const result = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (result === 'late') {
      this.kill('SIGKILL');
      await this.exited;
      throw new Error(
        `${this.instance} did not exit within ${timeoutMs}ms\n${this.output()}`,
      );
    }
    return result;
  }

  private waitUntil<T>(
    check: () => { value: T } | undefined,
    { timeoutMs, what }: { timeoutMs: number; what: string },
  ): Promise<T> {
    return new Promise<T>((resolveWait, reject) => {
      const waiter: Waiter = {
        check: () => {
          const found = check();
          if (found) {
            finish();
            resolveWait(found.value);
            return true;
          }
          if (this.exit) {
            finish();
            reject(
              new Error(
                `${this.instance} exited (${this.exit.code ?? this.exit.signal}) before ${what}\n${this.output()}`,
              ),
            );
            return true;
          }
          return false;
        },
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new Error(
            `Timed out after ${timeoutMs}ms waiting for ${what} from ${this.instance}\n${this.output()}`,
          ),
        );
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      if (!waiter.check()) {
        this.waiters.add(waiter);
      }
    });
  }

  private onStdout(chunk: string): void {
    this.buffer += chunk;
    let newline = this.buffer.indexOf('\n');
    while (newline >= 0) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + 1);
      this.onLine(line);
      newline = this.buffer.indexOf('\n');
    }
    this.notify();
  }

  private onLine(line: string): void {
    if (line.trim() === '') {
      return;
    }
    let event: FaultEvent | undefined;
    try {
      event = JSON.parse(line) as FaultEvent;
    } catch {
      event = undefined;
    }
    if (event && typeof event === 'object' && 'event' in event) {
      this.events.push(event);
      this.sawReady ||= event.event === 'ready';
      if (event.event !== 'step-started' && event.event !== 'step-finished') {
        this.remember(
          event.event === 'log'
            ? `[${event.level}] ${event.context ?? ''}: ${event.message}`
            : line,
        );
      }
    } else {
      this.remember(line);
    }
  }

  private remember(text: string): void {
    for (const line of text.split('\n')) {
      if (line !== '') {
        this.tail.push(line);
      }
    }
    this.tail.splice(0, Math.max(0, this.tail.length - TAIL_LINES));
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) {
      waiter.check();
    }
  }
}

const workers = new Set<WorkerProcess>();

/** Starts a worker child process; killed by `killWorkers()` if still alive. */
export function startWorker(options: WorkerOptions): WorkerProcess {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NO_COLOR: '1',
    [FAULT_ENV.databaseUrl]: options.url,
    [FAULT_ENV.schema]: options.schema,
    [FAULT_ENV.instanceName]: options.instance,
    [FAULT_ENV.leaseMs]: String(options.leaseMs),
  };
  const optional: [string, number | string | undefined][] = [
    [FAULT_ENV.pollMs, options.pollMs],
    [FAULT_ENV.concurrency, options.concurrency],
    [FAULT_ENV.prefetch, options.prefetch],
    [FAULT_ENV.shutdownTimeoutMs, options.shutdownTimeoutMs],
    [FAULT_ENV.maintenanceMs, options.maintenanceMs],
    [FAULT_ENV.reconnectInitialMs, options.reconnectInitialMs],
    [FAULT_ENV.reconnectMaxMs, options.reconnectMaxMs],
    [FAULT_ENV.workflows, options.workflows?.join(',')],
    [FAULT_ENV.stepSleepMs, options.stepSleepMs],
    [FAULT_ENV.underwayUrl, options.underwayUrl],
    [FAULT_ENV.statementTimeoutMs, options.statementTimeoutMs],
    [FAULT_ENV.stepEvents, options.stepEvents === false ? '0' : undefined],
    [FAULT_ENV.traces, options.traces ? '1' : undefined],
  ];
  for (const [name, value] of optional) {
    if (value === undefined) {
      delete env[name];
    } else {
      env[name] = String(value);
    }
  }
  const child = spawn(
    process.execPath,
    ['-r', './scripts/register.js', ENTRY],
    { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const worker = new WorkerProcess(options, child);
  workers.add(worker);
  void worker.exited.then(() => workers.delete(worker));
  return worker;
}

/** SIGKILLs every worker still alive (afterEach, pass or fail). */
export async function killWorkers(): Promise<void> {
  const alive = [...workers];
  for (const worker of alive) {
    worker.kill('SIGKILL');
  }
  await Promise.all(alive.map((worker) => worker.exited));
}

export interface StepMatch {
  readonly runId: string;
  readonly step?: number;
  readonly attempt?: number;
  readonly kind?: 'step-started' | 'step-finished';
}

/** The first of `workers` to report a step event matching `match`. */
export async function waitForStep(
  workers: readonly WorkerProcess[],
  match: StepMatch,
  timeoutMs = 15_000,
): Promise<{ worker: WorkerProcess; event: StepEvent }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const worker of workers) {
      const event = worker
        .steps(match.kind ?? 'step-started')
        .find(
          (e) =>
            e.runId === match.runId &&
            (match.step === undefined || e.step === match.step) &&
            (match.attempt === undefined || e.attempt === match.attempt),
        );
      if (event) {
        return { worker, event };
      }
    }
    if (Date.now() > deadline) {
      throw new Error(
        `No worker reported ${JSON.stringify(match)} within ${timeoutMs}ms\n` +
          workers.map((w) => w.output()).join('\n'),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The state letter of a process in /proc (`T`: stopped), or undefined if gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}
