import { Step, StepContext, Transition, Workflow } from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { deferred, waitFor } from '../support/wait-for';

let gate = deferred();
let started = 0;

@Workflow({ name: 'quick' })
class QuickWorkflow {
  @Step()
  async only() {
    return Transition.complete();
  }
}

@Workflow({ name: 'slow' })
class SlowWorkflow {
  @Step()
  async only(_input: unknown, ctx: StepContext) {
    started += 1;
    await Promise.race([
      gate.promise,
      new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)),
    ]);
    return Transition.complete();
  }
}

/** The largest number of runs one claim statement took (they share its `now()`). */
async function largestClaim(schema: string): Promise<number> {
  const [row] = await query<{ n: number }>(
    `select coalesce(max(n), 0)::int as n from (
       select count(*) as n from ${schema}.step_attempt group by started_at) claims`,
  );
  return row?.n ?? 0;
}

describe("prefetch 'auto' (the default)", () => {
  beforeEach(() => {
    gate = deferred();
    started = 0;
  });

  it('claims ahead in large batches while short steps race through', async () => {
    const { client, schema } = await createTestApp({
      workflows: [QuickWorkflow],
      underway: { runtime: { concurrency: 2 } },
    });
    const runs = await client.enqueueMany(
      QuickWorkflow,
      Array.from({ length: 3_000 }, () => undefined),
    );
    await waitFor(
      async () =>
        (
          await query(
            `select 1 from ${schema}.workflow_run where state <> 'succeeded' limit 1`,
          )
        ).length === 0,
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(runs).toHaveLength(3_000);
    // Far beyond the 2 free slots of a claim without prefetch.
    expect(await largestClaim(schema)).toBeGreaterThan(10);
  });

  it('claims nothing ahead while steps are slow: the other runs stay claimable by others', async () => {
    const { client, schema } = await createTestApp({
      workflows: [SlowWorkflow],
      underway: { runtime: { concurrency: 2 } },
    });
    await client.enqueueMany(
      SlowWorkflow,
      Array.from({ length: 10 }, () => undefined),
    );
    await waitFor(() => started === 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const [running] = await query<{ n: number }>(
      `select count(*)::int as n from ${schema}.workflow_run where state = 'running'`,
    );
    expect(running?.n).toBe(2);
    gate.resolve();
  });
});
