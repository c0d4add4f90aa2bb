import { DataSource } from 'typeorm';
import { MIGRATION_DEFINITIONS } from '../../migrations';
import {
  SchemaVersionError,
  Step,
  Transition,
  underwayMigrations,
  underwayMigrationsFor,
  Workflow,
} from '@underway/nestjs';
import { createTestApp, useSchema } from '../support/create-test-app';
import { databaseUrl, libraryConnections, query } from '../support/database';
import { currentTestSchema } from '../support/test-schema';
import { waitFor } from '../support/wait-for';

@Workflow({ name: 'noop' })
class NoopWorkflow {
  @Step()
  async run() {
    return Transition.complete('ok');
  }
}

/** Undoes the migrations after `version`, as an older library left the schema. */
async function downgradeTo(schema: string, version: number): Promise<void> {
  const definitions = MIGRATION_DEFINITIONS.filter((m) => m.version > version);
  for (const definition of [...definitions].reverse()) {
    for (const statement of definition.down(`"${schema}"`)) {
      await query(statement);
    }
    await query(`delete from ${schema}.migration where version = $1`, [
      definition.version,
    ]);
  }
}

describe('schema migrations', () => {
  it('applies the schema once when several instances boot together', async () => {
    const apps = await Promise.all(
      [1, 2, 3].map(() => createTestApp({ workflows: [NoopWorkflow] })),
    );
    const schema = apps[0]!.schema;
    const versions = await query<{ version: number }>(
      `select version from ${schema}.migration`,
    );
    expect(versions).toEqual([
      { version: 1 },
      { version: 2 },
      { version: 3 },
      { version: 4 },
      { version: 5 },
      { version: 6 },
      { version: 7 },
      { version: 8 },
    ]);
    await expect(
      (await apps[1]!.client.enqueue(NoopWorkflow)).result({ timeout: 5_000 }),
    ).resolves.toBe('ok');
  });

  it('upgrades a schema of version 1 in place at boot, keeping its runs', async () => {
    const first = await createTestApp({ workflows: [NoopWorkflow] });
    const run = await first.client.enqueue(NoopWorkflow);
    await run.result({ timeout: 5_000 });
    await first.close();
    // Back to what version 1 of the library left.
    await downgradeTo(first.schema, 1);

    const upgraded = await createTestApp({ workflows: [NoopWorkflow] });
    expect(
      await query<{ version: number }>(
        `select version from ${upgraded.schema}.migration order by version`,
      ),
    ).toEqual([
      { version: 1 },
      { version: 2 },
      { version: 3 },
      { version: 4 },
      { version: 5 },
      { version: 6 },
      { version: 7 },
      { version: 8 },
    ]);
    expect((await upgraded.client.getRun(run.id))?.state).toBe('succeeded');
    await expect(upgraded.client.listSchedules()).resolves.toEqual([]);
  });

  it('upgrades a schema of version 2 in place at boot: runs in flight go on, with no activity call', async () => {
    const first = await createTestApp({
      workflows: [NoopWorkflow],
      underway: { runtime: false },
    });
    const done = await first.client.enqueue(NoopWorkflow);
    await first.close();
    await downgradeTo(first.schema, 2);

    const upgraded = await createTestApp({ workflows: [NoopWorkflow] });
    expect(
      await query<{ version: number }>(
        `select version from ${upgraded.schema}.migration order by version`,
      ),
    ).toEqual([
      { version: 1 },
      { version: 2 },
      { version: 3 },
      { version: 4 },
      { version: 5 },
      { version: 6 },
      { version: 7 },
      { version: 8 },
    ]);
    // Enqueued under version 2, run under the latest version.
    await expect(
      upgraded.client.run(done.id, 'noop').result({ timeout: 5_000 }),
    ).resolves.toBe('ok');
    expect((await upgraded.client.getRun(done.id))?.activityCalls).toEqual([]);
  });

  it('refuses to start against a schema migrated by a newer version of the library', async () => {
    const first = await createTestApp({ workflows: [NoopWorkflow] });
    await first.close();
    await query(
      `insert into ${first.schema}.migration (version, name) values (99, 'FromTheFuture')`,
    );

    const error = await createTestApp({
      workflows: [NoopWorkflow],
      underway: { runtime: { instanceName: 'from-the-past' } },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchemaVersionError);
    expect((error as Error).message).toBe(
      `Schema "${first.schema}" is at version 99, newer than this library understands (8). Upgrade @underway/nestjs on this instance.`,
    );
    await waitFor(
      async () => (await libraryConnections('from-the-past')) === 0,
      {
        timeoutMs: 2_000,
        message: 'connections still open after a failed boot',
      },
    );
  });

  it('with migrationsRun: false, refuses to start against an unmigrated schema', async () => {
    const error = await createTestApp({
      workflows: [NoopWorkflow],
      underway: {
        migrationsRun: false,
        runtime: { instanceName: 'unmigrated' },
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchemaVersionError);
    expect((error as Error).message).toMatch(
      /is at version 0, this library needs 8\. Apply underwayMigrations/,
    );
    await waitFor(async () => (await libraryConnections('unmigrated')) === 0, {
      timeoutMs: 2_000,
      message: 'connections still open after a failed boot',
    });
  });

  it('runs as TypeORM migrations in the app’s own DataSource, then boots with migrationsRun: false', async () => {
    const schema = currentTestSchema();
    const dataSource = new DataSource({
      type: 'postgres',
      url: databaseUrl(),
      migrations: underwayMigrationsFor(schema),
      migrationsTableName: `${schema}_typeorm_migrations`,
    });
    await dataSource.initialize();
    try {
      const applied = await dataSource.runMigrations();
      expect(applied.map((m) => m.name)).toEqual([
        `UnderwayInit_${schema}_1700000000000`,
        `UnderwaySchedules_${schema}_1700000000001`,
        `UnderwayActivities_${schema}_1700000000002`,
        `UnderwayTraceContext_${schema}_1700000000003`,
        `UnderwayWakeGate_${schema}_1700000000004`,
        `UnderwayVersions_${schema}_1700000000005`,
        `UnderwaySignals_${schema}_1700000000006`,
        `UnderwayChildren_${schema}_1700000000007`,
      ]);
    } finally {
      await dataSource.query(
        `drop table if exists public.${schema}_typeorm_migrations`,
      );
      await dataSource.destroy();
    }

    const { client } = await createTestApp({
      workflows: [NoopWorkflow],
      underway: { migrationsRun: false },
    });
    await expect(
      (await client.enqueue(NoopWorkflow)).result({ timeout: 5_000 }),
    ).resolves.toBe('ok');
  });

  it('names the default-schema migrations as TypeORM expects', () => {
    expect(underwayMigrations.map((M) => new M().name)).toEqual([
      'UnderwayInit1700000000000',
      'UnderwaySchedules1700000000001',
      'UnderwayActivities1700000000002',
      'UnderwayTraceContext1700000000003',
      'UnderwayWakeGate1700000000004',
      'UnderwayVersions1700000000005',
      'UnderwaySignals1700000000006',
      'UnderwayChildren1700000000007',
    ]);
    expect(() => underwayMigrationsFor('Bad-Name')).toThrow(
      /Invalid option schema/,
    );
  });

  it('creates the documented tables, columns and indexes', async () => {
    const { schema } = await createTestApp({ workflows: [NoopWorkflow] });
    useSchema(schema);
    const columns = await query<{
      table_name: string;
      column_name: string;
      data_type: string;
      is_nullable: string;
    }>(
      `select table_name, column_name, data_type, is_nullable from information_schema.columns
       where table_schema = $1 order by table_name, ordinal_position`,
      [schema],
    );
    const indexes = await query<{ indexdef: string }>(
      `select indexdef from pg_indexes where schemaname = $1 order by indexname`,
      [schema],
    );
    const catalog = {
      columns: columns.map(
        (c) =>
          `${c.table_name}.${c.column_name} ${c.data_type}${c.is_nullable === 'NO' ? ' not null' : ''}`,
      ),
      indexes: indexes.map((i) => i.indexdef.split(schema).join('<schema>')),
    };
    expect(catalog).toMatchSnapshot();
  });
});
