/** How the CLI exits (SPEC §6). */
export const EXIT = {
  ok: 0,
  /** A run or queue that does not exist, or an action the run's state refuses. */
  refused: 1,
  /** A bad command line, an unreachable database, a schema that is not migrated. */
  usage: 2,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the CLI reports on one line and exits with its code. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function usageError(message: string): CliError {
  return new CliError(EXIT.usage, message);
}

export function refused(message: string): CliError {
  return new CliError(EXIT.refused, message);
}
