import type { ParseArgsConfig } from 'node:util';
import type { Schema } from '../database/sql';
import type { CliDatabase } from './cli-database';

/** Where the CLI writes (standard output and error, or a test's buffers). */
export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

/** What a command runs with: its parsed command line, and the database on demand. */
export interface CommandContext {
  readonly schema: Schema;
  readonly json: boolean;
  readonly positionals: readonly string[];
  readonly values: Readonly<
    Record<string, string | boolean | string[] | undefined>
  >;
  readonly output: CliOutput;
  /** Connects on first use (`DATABASE_URL`); closed when the command ends. */
  database(): Promise<CliDatabase>;
}

/** One `underway <name>` command. */
export interface Command {
  readonly name: string;
  /** One line, for `underway --help`. */
  readonly summary: string;
  /** `underway <name> …` and what follows it, for `underway <name> --help`. */
  readonly usage: string;
  /** Its own options (the global ones are added). */
  readonly options?: NonNullable<ParseArgsConfig['options']>;
  /** The number of positional arguments it takes, and their names (`<id>`). */
  readonly positionals?: readonly string[];
  /** Those it may take after them (`<payload>`). */
  readonly optionalPositionals?: readonly string[];
  run(context: CommandContext): Promise<void>;
}

/** Prints `value` as JSON (`--json`) or `text` for people. */
export function print(
  context: CommandContext,
  value: unknown,
  text: string,
): void {
  context.output.out(
    context.json ? `${JSON.stringify(value, null, 2)}\n` : text,
  );
}
