import { parseArgs, ParseArgsConfig } from 'node:util';
import { Logger } from '@nestjs/common';
import type { Schema } from '../database/sql';
import { CliError, EXIT, ExitCode, usageError } from './cli.error';
import { CliDatabase, cliSchema, openDatabase } from './cli-database';
import { Command, CliOutput } from './command';
import { terminalJson, terminalText } from './terminal-text';
import { cancelCommand, retryCommand, runsCommand } from './run-commands';
import { runCommand } from './run-command';
import {
  redriveCommand,
  schedulesCommand,
  statsCommand,
  versionsCommand,
} from './queue-commands';
import { migrateCommand, sqlCommand } from './schema-commands';
import { signalCommand } from './signal-command';

export const COMMANDS: readonly Command[] = [
  migrateCommand,
  sqlCommand,
  runsCommand,
  runCommand,
  cancelCommand,
  retryCommand,
  signalCommand,
  redriveCommand,
  schedulesCommand,
  statsCommand,
  versionsCommand,
];

const GLOBAL_OPTIONS: NonNullable<ParseArgsConfig['options']> = {
  schema: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

const GLOBAL_HELP =
  'Options of every command:\n' +
  '  --schema <name>  the schema Underway lives in (default: $UNDERWAY_SCHEMA, else underway)\n' +
  '  --json           JSON for scripts instead of tables\n' +
  '  -h, --help       this help\n\n' +
  'The database is DATABASE_URL (postgres://user:password@host:5432/database).\n' +
  'DATABASE_URL and UNDERWAY_SCHEMA are read from the environment only: no .env file\n' +
  'is read (node --env-file=.env node_modules/.bin/underway <command> reads one).\n' +
  'Exit codes: 0 done; 1 not found or refused (an unknown run or queue, a run whose\n' +
  'state refuses the action); 2 usage, connection or schema error.\n';

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return (
    'underway <command> [options]: operate the Underway queue of a PostgreSQL database\n\n' +
    'Commands:\n' +
    COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n') +
    '\n\nunderway <command> --help tells more.\n\n' +
    GLOBAL_HELP
  );
}

function commandHelp(command: Command): string {
  return `usage: ${command.usage}\n\n${command.summary}.\n\n${GLOBAL_HELP}`;
}

/**
 * `underway <command> …`: runs one command and returns its exit code. Every
 * failure is one line on standard error (never a stack trace, never a
 * password), with code 1 (not found, refused) or 2 (usage, connection,
 * schema); anything unexpected exits 2 as well.
 */
export async function runCli(
  argv: readonly string[],
  output: CliOutput,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ExitCode> {
  // The library's own log lines (a migration applied) would mix with the output.
  Logger.overrideLogger(false);
  let database: CliDatabase | undefined;
  // Whatever reaches the terminal, tables, messages and JSON alike, carries
  // no control character it would act on (see terminal-text.ts).
  let json = false;
  const terminal: CliOutput = {
    out: (text) => output.out(json ? terminalJson(text) : terminalText(text)),
    err: (text) => output.err(terminalText(text)),
  };
  try {
    const [name, ...rest] = argv;
    if (
      name === undefined ||
      name === '--help' ||
      name === '-h' ||
      name === 'help'
    ) {
      const topic = name === 'help' ? rest[0] : undefined;
      const command = topic === undefined ? undefined : find(topic);
      terminal.out(command ? commandHelp(command) : mainHelp());
      return name === undefined ? EXIT.usage : EXIT.ok;
    }
    const command = find(name);
    const parsed = parse(command, rest);
    if (parsed.values.help) {
      terminal.out(commandHelp(command));
      return EXIT.ok;
    }
    json = parsed.values.json === true;
    const schema: Schema = cliSchema(
      (parsed.values.schema as string | undefined) ??
        env.UNDERWAY_SCHEMA ??
        'underway',
    );
    await command.run({
      schema,
      json,
      positionals: parsed.positionals,
      values: parsed.values,
      output: terminal,
      database: async () => {
        database ??= await openDatabase(env.DATABASE_URL, schema);
        return database;
      },
    });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CliError) {
      terminal.err(`underway: ${err.message}\n`);
      return err.exitCode;
    }
    terminal.err(`underway: ${(err as Error).message ?? String(err)}\n`);
    return EXIT.usage;
  } finally {
    await database?.close().catch(() => undefined);
  }
}

function find(name: string): Command {
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    throw usageError(
      `unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')}; underway --help)`,
    );
  }
  return command;
}

function parse(
  command: Command,
  args: string[],
): {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
} {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw usageError(
      `${(err as Error).message} (underway ${command.name} --help)`,
    );
  }
  const values = parsed.values as Record<
    string,
    string | boolean | string[] | undefined
  >;
  const required = command.positionals?.length ?? 0;
  const most = required + (command.optionalPositionals?.length ?? 0);
  const count = parsed.positionals.length;
  if (!values.help && (count < required || count > most)) {
    throw usageError(
      most === 0
        ? `${command.name} takes no argument, got "${parsed.positionals.join(' ')}" (underway ${command.name} --help)`
        : `usage: ${command.usage.split('\n')[0]}`,
    );
  }
  return { values, positionals: parsed.positionals };
}

export type { ExitCode };
