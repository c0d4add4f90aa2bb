import { escapeIdentifier } from 'pg';
import { createUnderwayMigrations } from '../../../../migrations';
import { parseSchema } from './sql';

/**
 * The SQL of Underway's migrations for `schema`, as one script, for DBAs who
 * apply schema changes themselves (then run the app with `migrationsRun: false`).
 * It includes the version records the runtime checks at boot.
 *
 * @publicApi
 */
export function underwayMigrationSql(schema = 'underway'): string {
  const statements = createUnderwayMigrations(parseSchema(schema)).flatMap(
    (M) => new M().statements(),
  );
  return `begin;\n\n${statements.map((s) => `${s.trim()};`).join('\n\n')}\n\ncommit;\n`;
}

/**
 * The grants a least-privilege runtime role needs on `schema`: `USAGE` on the
 * schema and `SELECT, INSERT, UPDATE, DELETE` on its tables, nothing more (no
 * DDL, no ownership). Run it as the schema's owner after each migration.
 *
 * @publicApi
 */
export function underwayGrantSql(role: string, schema = 'underway'): string {
  if (typeof role !== 'string' || role.length === 0 || role.length > 63) {
    throw new TypeError('role must be a role name of 1 to 63 characters');
  }
  const quotedSchema = escapeIdentifier(parseSchema(schema));
  const quotedRole = escapeIdentifier(role);
  return [
    `grant usage on schema ${quotedSchema} to ${quotedRole};`,
    `grant select, insert, update, delete on all tables in schema ${quotedSchema} to ${quotedRole};`,
    // The wake-up functions (migration 5), in case EXECUTE was revoked from PUBLIC.
    `grant execute on all functions in schema ${quotedSchema} to ${quotedRole};`,
  ].join('\n');
}
