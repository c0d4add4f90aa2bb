import type { Pool } from 'pg';
import { UnderwayDatabase } from '@underway/nestjs/database/underway-database';
import { parseSchema } from '@underway/nestjs/database/sql';
import { claimRuns } from '@underway/nestjs/engine/sql/claim.sql';
import { claimScope } from '@underway/nestjs/model/claim-scope';
import { createTestApp } from '../support/create-test-app';

/**
 * `connections.statementTimeout` on the server's side of every connection the
 * library opens (scenario 15 in faults/half-open covers the client's side).
 */
async function settingsOf(pool: Pool): Promise<[string, string]> {
  const { rows } = await pool.query<{ statement: string; idle: string }>(
    `select current_setting('statement_timeout') as statement,
            current_setting('idle_in_transaction_session_timeout') as idle`,
  );
  return [rows[0]!.statement, rows[0]!.idle];
}

describe('connection bounds', () => {
  it('every connection of the library carries its role’s statement bounds, and migrations none', async () => {
    const { get } = await createTestApp({
      underway: {
        runtime: false,
        connections: { statementTimeout: '1500ms' },
      },
    });
    const database = get(UnderwayDatabase);

    expect(await settingsOf(database.pool)).toEqual(['1500ms', '1500ms']);
    expect(await settingsOf(database.heartbeat)).toEqual(['1500ms', '1500ms']);
    expect(await settingsOf(database.maintenance)).toEqual([
      '4500ms',
      '4500ms',
    ]);
    expect(await settingsOf(database.migrations)).toEqual(['0', '0']);
    await database.releaseMigrations();
  });

  it('the server cancels a statement past the bound (57014), and the connection stays usable', async () => {
    const { get } = await createTestApp({
      underway: { runtime: false, connections: { statementTimeout: 300 } },
    });
    const database = get(UnderwayDatabase);
    const started = Date.now();
    await expect(
      database.pool.query('select pg_sleep(5)'),
    ).rejects.toMatchObject({ code: '57014' });
    // The server's cancel, well before the client's bound or the sleep.
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await settingsOf(database.pool)).toEqual(['300ms', '300ms']);
  });

  it('uses the default of 10 s', async () => {
    const { get } = await createTestApp({ underway: { runtime: false } });
    expect(await settingsOf(get(UnderwayDatabase).pool)).toEqual([
      '10s',
      '10s',
    ]);
  });

  it('claims with one generic plan, planned once, and never JIT-compiled', async () => {
    const app = await createTestApp({ underway: { runtime: false } });
    const { get } = app;
    const schema = parseSchema(app.schema);
    const database = get(UnderwayDatabase);
    const client = await database.pool.connect();
    try {
      for (const limit of [1, 10, 500, 1, 7]) {
        const claim = claimRuns(
          schema,
          claimScope([{ name: 'nothing-here', version: 1, steps: ['a'] }]),
          limit,
          'test',
        );
        await client.query({
          name: claim.name,
          text: claim.text,
          values: [...claim.values],
        });
      }
      const { rows } = await client.query<{
        generic: string;
        custom: string;
        jit: string;
      }>(
        `select generic_plans::text as generic, custom_plans::text as custom,
           current_setting('jit') as jit
         from pg_prepared_statements where name = $1`,
        [claimRuns(schema, claimScope([]), 1, 'test').name],
      );
      // Planned afresh for each execution, the claim cost about 0.5 ms of
      // planning every time (and a JIT compile on a large queue).
      expect(rows).toEqual([{ generic: '5', custom: '0', jit: 'off' }]);
    } finally {
      client.release();
    }
  });
});
