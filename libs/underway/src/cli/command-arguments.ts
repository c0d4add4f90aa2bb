import { isUuid } from '../common/uuid';
import { CliError, refused, usageError } from './cli.error';
import type { CliDatabase } from './cli-database';
import type { CommandContext } from './command';

/** The largest `--limit`. */
export const MAX_LIMIT = 10_000;

/** The database, checked to be at this library's schema version. */
export async function migrated(context: CommandContext): Promise<CliDatabase> {
  const database = await context.database();
  await database.assertMigrated();
  return database;
}

/**
 * `--limit`: decimal digits only. `Number()` would also take `1e3`, `0x10`,
 * `10.0`, `+5`, `" 5"` and `""` (as 0), none of which a person means as a
 * count of rows.
 */
export function parseLimit(value: unknown, fallback: number): number {
  if (value === undefined) {
    return fallback;
  }
  const limit =
    typeof value === 'string' && /^[0-9]{1,9}$/.test(value)
      ? Number(value)
      : NaN;
  if (!(limit >= 1 && limit <= MAX_LIMIT)) {
    throw usageError(
      `--limit must be an integer from 1 to ${MAX_LIMIT}, in decimal digits, got ${JSON.stringify(value)}`,
    );
  }
  return limit;
}

/** A UUID (without narrowing `value` to `never` when it is not one). */
export function isRunId(value: string): boolean {
  return isUuid(value);
}

/** The `<id>` argument of a command on one run. @throws CliError (exit 2) unless a UUID */
export function runIdArgument(context: CommandContext): string {
  const id = context.positionals[0]!;
  if (!isRunId(id)) {
    throw usageError(
      `"${id}" is not a run id (a UUID such as 01936d1e-8f4a-7c3b-9d2e-5f6a7b8c9d0e)`,
    );
  }
  return id;
}

/** The error of a run id that is not in the schema (exit 1). */
export function runNotFound(id: string, database: CliDatabase): CliError {
  return refused(`No run ${id} in schema "${database.schema}"`);
}
