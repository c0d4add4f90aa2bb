import { escapeIdentifier } from 'pg';
import {
  Activity,
  currentActivity,
  InvalidInputError,
  Step,
  StepContext,
  StepError,
  Transition,
  underwayGrantSql,
  underwayMigrationSql,
  Workflow,
} from '@underway/nestjs';
import { UnderwayDatabase } from '../../libs/underway/src/database/underway-database';
import { createTestApp, useSchema } from '../support/create-test-app';
import { databaseUrl, query } from '../support/database';
import { currentTestSchema } from '../support/test-schema';
import { StepRecorder } from '../support/step-recorder';
import { sleep, waitFor } from '../support/wait-for';

const recorder = new StepRecorder();

@Workflow({
  name: 'billing',
  deadLetter: 'billing-dlq',
  retry: { maxAttempts: 2, initialInterval: 10 },
  ttl: 100,
})
class BillingWorkflow {
  @Activity()
  async total(cents: number): Promise<number> {
    return cents / 10;
  }

  @Activity()
  async receipt(_total: number): Promise<void> {
    recorder.record('receipt', null, currentActivity());
  }

  @Step()
  async invoice(
    input: { fail?: boolean; hold?: boolean },
    ctx: StepContext<BillingWorkflow>,
  ) {
    recorder.record('invoice', input, ctx);
    if (input.fail) {
      throw StepError.retryable('declined', 'card declined');
    }
    if (input.hold) {
      await new Promise((resolve) =>
        ctx.signal.addEventListener('abort', resolve),
      );
    }
    // Activities run under the same role: their table, their attempts.
    const total = await ctx.call('total', 100);
    await ctx.emit('receipt', total);
    return Transition.after({ total }, 20);
  }

  @Step()
  async send(input: { total: number }) {
    return Transition.complete(input.total);
  }
}

/** A value that must never appear in a log line or an error message. */
const SECRET = 'S3CR3T-4111-1111-1111-1111';

interface Payment {
  card: string;
  mode: 'ok' | 'fatal' | 'unstorable' | 'not-a-transition' | 'slow' | 'hold';
}

@Workflow({
  name: 'payment',
  deadLetter: 'payments-dlq',
  retry: { maxAttempts: 2, initialInterval: 10 },
  timeout: 100,
})
class PaymentWorkflow {
  @Step()
  async authorize(input: Payment, ctx: StepContext) {
    recorder.record('authorize', input, ctx);
    switch (input.mode) {
      case 'ok':
        if (ctx.attempt === 1) {
          throw StepError.retryable('gateway_busy', 'the gateway is busy');
        }
        return Transition.next({ card: input.card, token: `tok:${SECRET}` });
      case 'fatal':
        throw StepError.fatal('card_declined', 'the card was declined');
      case 'unstorable':
        return Transition.next({ card: input.card, amount: 10n });
      case 'not-a-transition':
        return { card: input.card };
      case 'slow':
        await sleep(300);
        return Transition.next({ card: input.card });
      case 'hold':
        await new Promise((resolve) =>
          ctx.signal.addEventListener('abort', resolve),
        );
        return Transition.next({ card: input.card });
    }
  }

  @Step()
  async capture(input: { card: string; token: string }) {
    return Transition.complete({ receipt: `${input.token}:${input.card}` });
  }
}

function urlFor(role: string, password: string): string {
  const url = new URL(databaseUrl());
  url.username = role;
  url.password = password;
  return url.toString();
}

describe('security', () => {
  beforeEach(() => recorder.clear());

  it('runs everything under a role with only USAGE and SELECT, INSERT, UPDATE, DELETE', async () => {
    const schema = currentTestSchema();
    const role = `${schema}_rt`;
    await query(`drop role if exists ${escapeIdentifier(role)}`);
    // The owner applies the printed migration SQL and grants.
    await query(underwayMigrationSql(schema));
    // As where PUBLIC may execute no function: the grants give what is needed.
    await query(
      `revoke execute on all functions in schema ${escapeIdentifier(schema)} from public`,
    );
    await query(
      `create role ${escapeIdentifier(role)} login password 'rt-secret'`,
    );
    await query(underwayGrantSql(role, schema));
    try {
      const app = await createTestApp({
        workflows: [BillingWorkflow],
        underway: {
          dataSource: { type: 'postgres', url: urlFor(role, 'rt-secret') },
          migrationsRun: false,
          runtime: { maintenanceInterval: 50, instanceName: 'least-privilege' },
        },
      });
      const { client } = app;
      const ok = await client.enqueue(
        BillingWorkflow,
        {},
        { concurrencyKey: 'acct-1', idempotencyKey: 'inv-1' },
      );
      await expect(ok.result({ timeout: 5_000 })).resolves.toBe(10);
      await waitFor(() => recorder.count('receipt', ok.id) === 1);
      const failing = await client.enqueue(BillingWorkflow, { fail: true });
      await expect(failing.result({ timeout: 5_000 })).rejects.toMatchObject({
        errorCode: 'declined',
      });
      const [redriven] = await client.redrive('billing-dlq');
      expect(redriven).toBeDefined();
      const held = await client.enqueue(BillingWorkflow, { hold: true });
      await waitFor(() => recorder.count('invoice', held.id) === 1);
      await expect(held.cancel()).resolves.toBe(true);
      // Retention deletes finished runs (ttl 100 ms), with their activity
      // calls, under the same role.
      await waitFor(
        async () =>
          (
            await query(`select 1 from ${schema}.workflow_run where id = $1`, [
              ok.id,
            ])
          ).length === 0,
        { timeoutMs: 5_000 },
      );
      expect(
        await query(`select 1 from ${schema}.activity_call where run_id = $1`, [
          ok.id,
        ]),
      ).toEqual([]);
      // Its connections really are that role.
      const users = await query<{ usename: string }>(
        `select distinct usename from pg_stat_activity where application_name like 'underway:least-privilege:%'`,
      );
      expect(users).toEqual([{ usename: role }]);
      // And that role cannot change the schema.
      await expect(
        (async () => {
          const { Client } = await import('pg');
          const c = new Client({ connectionString: urlFor(role, 'rt-secret') });
          await c.connect();
          try {
            await c.query(
              `alter table ${schema}.workflow_run add column x int`,
            );
          } finally {
            await c.end();
          }
        })(),
      ).rejects.toThrow(/must be owner/);
      await app.close();
    } finally {
      await query(`drop owned by ${escapeIdentifier(role)}`).catch(
        () => undefined,
      );
      await query(`drop role if exists ${escapeIdentifier(role)}`);
    }
  });

  it('keeps two schemas in one database apart: runs, notifications and workers', async () => {
    const schemaA = useSchema(currentTestSchema('a'));
    const schemaB = useSchema(currentTestSchema('b'));
    const a = await createTestApp({
      workflows: [BillingWorkflow],
      underway: {
        schema: schemaA,
        runtime: { pollInterval: '30s', instanceName: 'tenant-a' },
      },
      eventLog: true,
    });
    const b = await createTestApp({
      workflows: [BillingWorkflow],
      underway: {
        schema: schemaB,
        runtime: { pollInterval: '30s', instanceName: 'tenant-b' },
      },
      eventLog: true,
    });
    await Promise.all([
      a.events.next('listener:connected'),
      b.events.next('listener:connected'),
    ]);

    const runA = await a.client.enqueue(BillingWorkflow, {});
    await expect(runA.result({ timeout: 5_000 })).resolves.toBe(10);
    expect(await b.client.getRun(runA.id)).toBeNull();
    expect(await query(`select 1 from ${schemaB}.workflow_run`)).toEqual([]);
    const workers = await query<{ worker: string }>(
      `select distinct worker from ${schemaA}.step_attempt`,
    );
    expect(workers).toEqual([{ worker: 'tenant-a' }]);

    // A notification on B's channel wakes B only: B's run starts at once (30 s poll).
    const runB = await b.client.enqueue(BillingWorkflow, {});
    await expect(runB.result({ timeout: 3_000 })).resolves.toBe(10);
    expect(await a.client.getRun(runB.id)).toBeNull();
  });

  it('names every connection it opens underway:<instanceName>:<role> and pins search_path', async () => {
    const app = await createTestApp({
      workflows: [BillingWorkflow],
      underway: {
        runtime: { instanceName: 'named-conn', maintenanceInterval: 50 },
      },
    });
    const database = app.get(UnderwayDatabase);
    const pinned = await database.pool.query<{ search_path: string }>(
      'show search_path',
    );
    expect(pinned.rows[0]?.search_path).toBe('pg_catalog');
    await waitFor(async () => {
      const rows = await query<{ application_name: string }>(
        `select application_name from pg_stat_activity where application_name like 'underway:named-conn:%'`,
      );
      const roles = new Set(rows.map((r) => r.application_name));
      return ['claim', 'listen', 'maintenance'].every((r) =>
        roles.has(`underway:named-conn:${r}`),
      );
    });
    const names = await query<{ application_name: string }>(
      `select distinct application_name from pg_stat_activity where application_name like 'underway:named-conn:%'`,
    );
    for (const { application_name } of names) {
      expect(application_name).toMatch(
        /^underway:named-conn:(claim|exec|heartbeat|listen|scheduler|activity|maintenance)$/,
      );
    }
  });

  it('keeps inputs, outputs and step results out of its logs and error messages', async () => {
    const app = await createTestApp({
      workflows: [PaymentWorkflow],
      underway: { runtime: { instanceName: 'no-secrets' } },
    });
    const { client } = app;
    const card = SECRET;
    const ok = await client.enqueue(PaymentWorkflow, { card, mode: 'ok' });
    await expect(ok.result({ timeout: 5_000 })).resolves.toEqual({
      receipt: `tok:${SECRET}:${SECRET}`,
    });
    const failing = (
      ['fatal', 'unstorable', 'not-a-transition', 'slow'] as const
    ).map((mode) => client.enqueue(PaymentWorkflow, { card, mode }));
    for (const run of await Promise.all(failing)) {
      await expect(run.result({ timeout: 5_000 })).rejects.toMatchObject({
        state: 'failed',
      });
    }
    const held = await client.enqueue(PaymentWorkflow, { card, mode: 'hold' });
    await waitFor(() => recorder.count('authorize', held.id) === 1);
    await held.cancel();
    await expect(held.result({ timeout: 5_000 })).rejects.toMatchObject({
      state: 'cancelled',
    });
    await client.redrive('payments-dlq');
    // Input rejected at the edge: the error names the path, not the value.
    const rejected: unknown = await client
      .enqueue(PaymentWorkflow, { card: `${SECRET}\u0000`, mode: 'ok' })
      .catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(InvalidInputError);
    const rejection = (rejected as InvalidInputError).message;
    expect(rejection).toContain('$.card');
    const errors = await query<{ error: string }>(
      `select error::text from ${app.schema}.workflow_run where error is not null`,
    );
    await app.close();

    // What the worker did is in its logs, with ids and codes…
    const lines = app.logs.entries
      .filter((e) => ['log', 'warn', 'error', 'fatal'].includes(e.level))
      .map((e) => e.message);
    for (const code of [
      'gateway_busy',
      'card_declined',
      'invalid_input',
      'invalid_transition',
      'timeout',
    ]) {
      expect(lines.some((l) => l.includes(code) && l.includes('Run '))).toBe(
        true,
      );
    }
    // …but never what the runs carried; nor do the recorded errors.
    const leaks = [...lines, rejection, ...errors.map((e) => e.error)].filter(
      (l) => l.includes(SECRET),
    );
    expect(leaks).toEqual([]);
  });
});
