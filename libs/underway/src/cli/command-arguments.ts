import { isUuid } from '../common/uuid';
import { usageError } from './cli.error';
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
