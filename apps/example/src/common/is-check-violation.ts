import { QueryFailedError } from 'typeorm';

/** PostgreSQL's SQLSTATE for a check constraint violation. */
const CHECK_VIOLATION = '23514';

/** True when a TypeORM query failed on the check constraint `constraint`. */
export function isCheckViolation(err: unknown, constraint: string): boolean {
  if (!(err instanceof QueryFailedError)) {
    return false;
  }
  const driverError = err.driverError as
    { code?: unknown; constraint?: unknown } | undefined;
  return (
    driverError?.code === CHECK_VIOLATION &&
    driverError.constraint === constraint
  );
}
