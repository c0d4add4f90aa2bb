import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One schema change, as plain SQL. `s` is the quoted schema name, the only
 * substitution migrations make (it was validated and quoted by `ident()`).
 */
export interface UnderwayMigrationDefinition {
  /** 1, 2, 3…: recorded in `<schema>.migration`; never reused. */
  readonly version: number;
  /** Unix ms, as TypeORM expects at the end of a migration name. */
  readonly timestamp: number;
  readonly name: string;
  up(s: string): string[];
  down(s: string): string[];
}

/** The TypeORM migration class type this file produces. */
export type UnderwayMigrationClass = new () => MigrationInterface & {
  readonly version: number;
  statements(): string[];
};

/**
 * Binds a migration to a schema as a TypeORM migration class, usable in an
 * app's own `migrations: [...]` as well as by Underway's boot-time runner. Each
 * `up` records its version in `<schema>.migration`, whichever runner applies it,
 * so the runtime can always tell how far the schema is.
 */
export function migrationClass(
  definition: UnderwayMigrationDefinition,
  schema: string,
  quotedSchema: string,
): UnderwayMigrationClass {
  const suffix = schema === 'underway' ? '' : `_${schema}_`;
  const migrationName = `${definition.name}${suffix}${definition.timestamp}`;
  const recordVersion =
    `insert into ${quotedSchema}.migration (version, name) values ` +
    `(${definition.version}, '${definition.name}') on conflict (version) do nothing`;
  const statements = (): string[] => [
    ...definition.up(quotedSchema),
    recordVersion,
  ];

  const bound = class implements MigrationInterface {
    readonly name = migrationName;
    readonly version = definition.version;

    statements(): string[] {
      return statements();
    }

    async up(queryRunner: QueryRunner): Promise<void> {
      for (const statement of statements()) {
        await queryRunner.query(statement);
      }
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      for (const statement of definition.down(quotedSchema)) {
        await queryRunner.query(statement);
      }
    }
  };
  Object.defineProperty(bound, 'name', { value: migrationName });
  return bound;
}
