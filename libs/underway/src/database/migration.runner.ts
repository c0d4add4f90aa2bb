import { Logger } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import type { QueryRunner } from 'typeorm';
import {
  createUnderwayMigrations,
  LATEST_SCHEMA_VERSION,
} from '../../../../migrations';
import { SchemaVersionError } from '../errors/schema-version.error';
import { ident, Schema, sql } from './sql';

/**
 * Applies `underwayMigrations` to a schema under a transaction-scoped advisory
 * lock (namespaced by schema), so instances booting together migrate once; or,
 * with `migrationsRun: false`, only checks the schema version.
 */
export class MigrationRunner {
  private readonly logger = new Logger(MigrationRunner.name);

  constructor(
    private readonly pool: Pool,
    private readonly schema: Schema,
  ) {}

  /** Brings the schema to the latest version. @throws SchemaVersionError if it is newer. */
  async migrate(): Promise<void> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('begin');
      const lock = sql`select pg_advisory_xact_lock(hashtextextended(${`underway:migrate:${this.schema}`}, 0))`;
      await client.query(lock.text, [...lock.values]);
      const current = await this.readVersion(client);
      if (current > LATEST_SCHEMA_VERSION) {
        throw new SchemaVersionError(
          this.schema,
          current,
          LATEST_SCHEMA_VERSION,
        );
      }
      const pending = createUnderwayMigrations(this.schema).map((M) => new M());
      for (const migration of pending) {
        if (migration.version <= current) {
          continue;
        }
        await migration.up(asQueryRunner(client));
        this.logger.log(
          `Applied migration ${migration.version} (${migration.name}) to schema "${this.schema}"`,
        );
      }
      await client.query('commit');
    } catch (err) {
      await client.query('rollback').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** @throws SchemaVersionError unless the schema is at exactly this library's version. */
  async assertCurrent(): Promise<void> {
    const client = await this.pool.connect();
    try {
      const current = await this.readVersion(client);
      if (current !== LATEST_SCHEMA_VERSION) {
        throw new SchemaVersionError(
          this.schema,
          current,
          LATEST_SCHEMA_VERSION,
        );
      }
    } finally {
      client.release();
    }
  }

  private async readVersion(client: PoolClient): Promise<number> {
    const table = `${ident(this.schema).quoted}.migration`;
    const exists = sql`select to_regclass(${table}) is not null as exists`;
    const found = await client.query<{ exists: boolean }>(exists.text, [
      ...exists.values,
    ]);
    if (!found.rows[0]?.exists) {
      return 0;
    }
    const query = sql`select coalesce(max(version), 0)::int as version from ${ident(this.schema)}.migration`;
    const result = await client.query<{ version: number }>(query.text, [
      ...query.values,
    ]);
    return result.rows[0]?.version ?? 0;
  }
}

/**
 * The slice of TypeORM's QueryRunner that Underway's migrations use:
 * `query(text, parameters)`, resolving with the rows. (A type assertion, not
 * an annotation: whether this one signature is assignable to QueryRunner's
 * overloads depends on the compiler options, and the type tests compile these
 * sources under `nest new`'s as well as this repository's.)
 */
function asQueryRunner(client: PoolClient): QueryRunner {
  const query = (text: string, parameters?: unknown[]) =>
    client
      .query(text, parameters)
      .then((result): unknown[] => result.rows as unknown[]);
  return { query } as Partial<QueryRunner> as QueryRunner;
}
