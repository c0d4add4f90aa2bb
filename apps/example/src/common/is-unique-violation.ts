import { QueryFailedError } from 'typeorm';

/** PostgreSQL's SQLSTATE for a unique constraint violation. */
const UNIQUE_VIOLATION = '23505';

/** True when a TypeORM query failed on a unique constraint. */
export function isUniqueViolation(err: unknown): boolean {
  return (
    err instanceof QueryFailedError &&
    (err.driverError as { code?: unknown } | undefined)?.code ===
      UNIQUE_VIOLATION
  );
}
