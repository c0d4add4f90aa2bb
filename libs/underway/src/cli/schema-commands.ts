import { MigrationRunner } from '../database/migration.runner';
import { SchemaVersionError } from '../errors/schema-version.error';
import {
  underwayGrantSql,
  underwayMigrationSql,
} from '../database/underway-sql';
import { usageError } from './cli.error';
import { Command, print } from './command';

export const migrateCommand: Command = {
  name: 'migrate',
  summary:
    'apply the schema migrations (under an advisory lock, as the module does at boot)',
  usage:
    'underway migrate [--schema <name>] [--json]\n\n' +
    'Brings the schema to this version of the library, creating it if needed. Safe to run\n' +
    'while instances boot: they and this command migrate one at a time.',
  async run(context) {
    const database = await context.database();
    const from = await database.version();
    try {
      await new MigrationRunner(database.pool, database.schema).migrate();
    } catch (err) {
      if (err instanceof SchemaVersionError) {
        throw usageError(err.message);
      }
      throw err;
    }
    const to = await database.version();
    print(
      context,
      { schema: database.schema, from, to },
      from === to
        ? `Schema "${database.schema}" is up to date (version ${to}).\n`
        : `Schema "${database.schema}" migrated from version ${from} to ${to}.\n`,
    );
  },
};

export const sqlCommand: Command = {
  name: 'sql',
  summary:
    'print the migration SQL, or with --grant the GRANTs of a runtime role',
  usage:
    'underway sql [--schema <name>] [--grant <role>] [--json]\n\n' +
    'Prints, without connecting, the migration script for a DBA to review and apply\n' +
    '(then run the app with migrationsRun: false), or with --grant the grants of a\n' +
    'least-privilege runtime role: USAGE on the schema, SELECT, INSERT, UPDATE, DELETE on\n' +
    'its tables. (`underway-sql` is the same command.)',
  options: { grant: { type: 'string' } },
  run(context) {
    const role = context.values.grant as string | undefined;
    let text: string;
    try {
      text =
        role === undefined
          ? underwayMigrationSql(context.schema)
          : `${underwayGrantSql(role, context.schema)}\n`;
    } catch (err) {
      throw usageError(`--grant: ${(err as Error).message}`);
    }
    print(context, { schema: context.schema, sql: text }, text);
    return Promise.resolve();
  },
};
