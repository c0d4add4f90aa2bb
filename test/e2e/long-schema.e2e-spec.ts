import { randomBytes } from 'node:crypto';
import { Step, Transition, Workflow } from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';
import { query } from '../support/database';

@Workflow({ name: 'two-steps' })
class TwoSteps {
  @Step()
  async first(input: { n: number }) {
    return Transition.next({ n: input.n + 1 });
  }

  @Step()
  async second(input: { n: number }) {
    return Transition.complete(input.n * 10);
  }
}

/**
 * A schema name of exactly `length` characters, unique to this run: `lg_`,
 * random hex, then `x`s (or `tail` at the very end).
 */
function longSchema(length: number, random = randomHex(), tail = ''): string {
  const head = `lg_${random}_`;
  return (head + 'x'.repeat(length)).slice(0, length - tail.length) + tail;
}

function randomHex(): string {
  return randomBytes(6).toString('hex');
}

/** Boots in `schema`, then runs workflows that only a notification can wake in time. */
async function runsInSchema(schema: string): Promise<void> {
  const { client, logs, events } = await createTestApp({
    workflows: [TwoSteps],
    // A 10 s poll: a run finishing within 3 s was woken by NOTIFY.
    underway: { schema, runtime: { pollInterval: '10s' } },
    eventLog: true,
  });
  await events.next('listener:connected');

  const started = Date.now();
  const one = await client.enqueue<number>(TwoSteps, { n: 1 });
  const many = await client.enqueueMany<number>(TwoSteps, [{ n: 2 }, { n: 3 }]);
  await expect(
    Promise.all([one, ...many].map((run) => run.result({ timeout: 3_000 }))),
  ).resolves.toEqual([20, 30, 40]);
  expect(Date.now() - started).toBeLessThan(3_000);
  expect(await one.status()).toBe('succeeded');

  const [row] = await query<{ runs: number }>(
    `select count(*)::int as runs from "${schema}".workflow_run where state = 'succeeded'`,
  );
  expect(row).toEqual({ runs: 3 });
  // No error or warning of the library's (two apps at once make TypeORM warn
  // of a second default data source, which is not what this test is about).
  const problems = logs.entries.filter(
    (entry) =>
      (entry.level === 'error' || entry.level === 'warn') &&
      entry.context !== 'DataSourceNameRegistry',
  );
  expect(problems).toEqual([]);
}

describe('long schema names', () => {
  it.each([43, 55, 63])(
    'boots, enqueues and runs a two-step workflow, woken by a notification, in a %i-character schema',
    async (length) => {
      const schema = longSchema(length);
      expect(schema).toHaveLength(length);
      await runsInSchema(schema);
    },
  );

  it('keeps two 63-character schemas that share a 62-character prefix apart', async () => {
    const random = randomHex();
    const a = longSchema(63, random, 'a');
    const b = longSchema(63, random, 'b');
    expect(a.slice(0, 62)).toBe(b.slice(0, 62));
    await Promise.all([runsInSchema(a), runsInSchema(b)]);
  });
});
