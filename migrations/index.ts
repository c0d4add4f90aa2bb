import { escapeIdentifier } from 'pg';
import { UnderwayInit } from './1700000000000-UnderwayInit';
import { UnderwaySchedules } from './1700000000001-UnderwaySchedules';
import { UnderwayActivities } from './1700000000002-UnderwayActivities';
import { UnderwayTraceContext } from './1700000000003-UnderwayTraceContext';
import { UnderwayWakeGate } from './1700000000004-UnderwayWakeGate';
import { UnderwayVersions } from './1700000000005-UnderwayVersions';
import { UnderwaySignals } from './1700000000006-UnderwaySignals';
import { UnderwayChildren } from './1700000000007-UnderwayChildren';
import {
  migrationClass,
  UnderwayMigrationClass,
  UnderwayMigrationDefinition,
} from './underway-migration';

/** Every schema change, in order. Append only: a released entry is never edited. */
export const MIGRATION_DEFINITIONS: readonly UnderwayMigrationDefinition[] = [
  UnderwayInit,
  UnderwaySchedules,
  UnderwayActivities,
  UnderwayTraceContext,
  UnderwayWakeGate,
  UnderwayVersions,
  UnderwaySignals,
  UnderwayChildren,
];

/** The schema version this code needs and understands. */
export const LATEST_SCHEMA_VERSION =
  MIGRATION_DEFINITIONS[MIGRATION_DEFINITIONS.length - 1]?.version ?? 0;

/**
 * Underway's migrations bound to `schema`, as TypeORM migration classes.
 * `schema` must already be validated (see `parseSchema`).
 */
export function createUnderwayMigrations(
  schema: string,
): UnderwayMigrationClass[] {
  const quoted = escapeIdentifier(schema);
  return MIGRATION_DEFINITIONS.map((definition) =>
    migrationClass(definition, schema, quoted),
  );
}

export type { UnderwayMigrationClass } from './underway-migration';
