import { Step, StepContext, Transition, Workflow } from '@underway/nestjs';
import { createTestApp, TestApp } from '../../support/create-test-app';
import { query } from '../../support/database';
import { waitFor } from '../../support/wait-for';

/**
 * RELIABILITY.md scenario 19, a rolling deploy: two instances with different
 * step lists of one workflow (the new code inserts a step `x` before `b`),
 * and a second version only the new instance registers, share a schema
 * under load, and the old instance stops while runs are in flight. No run
 * executes a step its instance's code does not have at the run's position
 * (each step after the first is the step after the previous one in the code
 * that ran the previous one, and every step of a run is of its version), none
 * runs a step twice, none is lost.
 */

interface Execution {
  readonly runId: string;
  readonly ordinal: number;
  readonly code: string;
  readonly step: string;
}

const executions: Execution[] = [];

/** The steps of each class, in order: what "the next step" means in that code. */
const CODE: Record<string, readonly string[]> = {
  OldPipeline: ['a', 'b', 'c'],
  NewPipeline: ['a', 'x', 'b', 'c'],
  PipelineV2: ['p', 'q'],
};

async function execute(
  code: string,
  step: string,
  ctx: StepContext,
  input: { parkMs?: number },
): Promise<Transition> {
  executions.push({
    runId: ctx.runId,
    ordinal: ctx.stepIndex,
    code,
    step,
  });
  // A little work, so that claims, steps and commits overlap.
  await new Promise((resolve) => setTimeout(resolve, 2));
  const steps = CODE[code]!;
  if (steps.indexOf(step) === steps.length - 1) {
    return Transition.complete({ last: `${code}.${step}` });
  }
  return input.parkMs && step === 'a'
    ? Transition.after({}, input.parkMs)
    : Transition.next({});
}

@Workflow({ name: 'rolling' })
class OldPipeline {
  @Step() async a(i: object, ctx: StepContext) {
    return execute('OldPipeline', 'a', ctx, i);
  }
  @Step() async b(i: object, ctx: StepContext) {
    return execute('OldPipeline', 'b', ctx, i);
  }
  @Step() async c(i: object, ctx: StepContext) {
    return execute('OldPipeline', 'c', ctx, i);
  }
}

@Workflow({ name: 'rolling' })
class NewPipeline {
  @Step() async a(i: object, ctx: StepContext) {
    return execute('NewPipeline', 'a', ctx, i);
  }
  @Step() async x(i: object, ctx: StepContext) {
    return execute('NewPipeline', 'x', ctx, i);
  }
  @Step() async b(i: object, ctx: StepContext) {
    return execute('NewPipeline', 'b', ctx, i);
  }
  @Step() async c(i: object, ctx: StepContext) {
    return execute('NewPipeline', 'c', ctx, i);
  }
}

@Workflow({ name: 'rolling', version: 2 })
class PipelineV2 {
  @Step() async p(i: object, ctx: StepContext) {
    return execute('PipelineV2', 'p', ctx, i);
  }
  @Step() async q(i: object, ctx: StepContext) {
    return execute('PipelineV2', 'q', ctx, i);
  }
}

function boot(
  instanceName: string,
  workflows: (new () => object)[],
): Promise<TestApp> {
  return createTestApp({
    workflows,
    underway: {
      runtime: { instanceName, concurrency: 8, pollInterval: 100 },
    },
  });
}

async function succeeded(
  schema: string,
  ids: readonly string[],
): Promise<number> {
  const [row] = await query<{ n: number }>(
    `select count(*)::int as n from ${schema}.workflow_run where id = any($1::uuid[]) and state = 'succeeded'`,
    [ids],
  );
  return row!.n;
}

describe('fault scenario 19: a rolling deploy', () => {
  beforeEach(() => {
    executions.length = 0;
  });

  it('two instances with different step lists and versions under load, the old one stopping mid-flight: no step its code lacks, none twice, none lost', async () => {
    const old = await boot('old', [OldPipeline]);
    const { schema } = old;
    // Batch 1: the old code runs their first step, then stops before the
    // second is due; the new code takes them over.
    const batch1 = await old.client.enqueueMany(
      OldPipeline,
      Array.from({ length: 100 }, () => ({ parkMs: 1_000 })),
    );
    const ids1 = batch1.map((run) => run.id);
    await waitFor(
      async () => {
        const [row] = await query<{ n: number }>(
          `select count(*)::int as n from ${schema}.workflow_run where id = any($1::uuid[]) and step_name = 'b'`,
          [ids1],
        );
        return row!.n === ids1.length;
      },
      { timeoutMs: 60_000, message: 'batch 1 waits at b' },
    );
    await old.close();

    const fresh = await boot('new', [NewPipeline, PipelineV2]);
    // Batch 1 is the new code's alone: the old one comes back once the new
    // one has taken b of every run (else, on a slow machine, either may).
    await waitFor(
      async () => {
        const [row] = await query<{ n: number }>(
          `select count(*)::int as n from ${schema}.workflow_run
           where id = any($1::uuid[]) and (step_name = 'c' or state = 'succeeded')`,
          [ids1],
        );
        return row!.n === ids1.length;
      },
      { timeoutMs: 60_000, message: 'batch 1 past b on the new code' },
    );
    const back = await boot('old', [OldPipeline]);
    // Batch 2: both codes at once, each enqueuing: old runs, new runs of
    // version 1 (by class) and of version 2 (by name: the highest here).
    const ids2 = [
      ...(await back.client.enqueueMany(
        OldPipeline,
        Array.from({ length: 150 }, () => ({})),
      )),
      ...(await fresh.client.enqueueMany(
        NewPipeline,
        Array.from({ length: 150 }, () => ({})),
      )),
      ...(await Promise.all(
        Array.from({ length: 100 }, () => fresh.client.enqueue('rolling', {})),
      )),
    ].map((run) => run.id);
    // The old instance stops while batch 2 is in flight.
    await waitFor(async () => (await succeeded(schema, ids2)) >= 50, {
      timeoutMs: 60_000,
      message: 'batch 2 under way',
    });
    await back.close();
    const all = [...ids1, ...ids2];
    await waitFor(async () => (await succeeded(schema, all)) === all.length, {
      timeoutMs: 120_000,
      message: 'every run succeeded',
    });

    // None lost, none failed.
    const states = await query<{ state: string; n: number }>(
      `select state, count(*)::int as n from ${schema}.workflow_run group by state`,
    );
    expect(states).toEqual([{ state: 'succeeded', n: all.length }]);

    // None twice: one execution per (run, step ordinal), and one recorded attempt.
    const seen = new Map<string, Execution>();
    for (const e of executions) {
      const key = `${e.runId}/${e.ordinal}`;
      expect(seen.get(key)).toBeUndefined();
      seen.set(key, e);
    }
    const [attempts] = await query<{ n: number; distinct_steps: number }>(
      `select count(*)::int as n, count(distinct (run_id, step_index))::int as distinct_steps
       from ${schema}.step_attempt`,
    );
    expect(attempts).toEqual({
      n: executions.length,
      distinct_steps: executions.length,
    });

    // Each run's path: its steps in order, each the next of the previous one
    // in the code that ran the previous one, all of one version.
    const versions = new Map(
      (
        await query<{ id: string; workflow_version: number }>(
          `select id, workflow_version from ${schema}.workflow_run`,
        )
      ).map((r) => [r.id, r.workflow_version]),
    );
    let mixed = 0;
    for (const runId of all) {
      const path = executions
        .filter((e) => e.runId === runId)
        .sort((x, y) => x.ordinal - y.ordinal);
      expect(path.map((e) => e.ordinal)).toEqual(path.map((_, i) => i));
      const version = versions.get(runId);
      for (const e of path) {
        expect(CODE[e.code]).toContain(e.step);
        expect(e.code === 'PipelineV2' ? 2 : 1).toBe(version);
      }
      for (let i = 1; i < path.length; i += 1) {
        const before = path[i - 1]!;
        const steps = CODE[before.code]!;
        expect(`${before.code}: ${before.step} → ${path[i]!.step}`).toBe(
          `${before.code}: ${before.step} → ${steps[steps.indexOf(before.step) + 1]}`,
        );
      }
      const last = path[path.length - 1]!;
      expect(CODE[last.code]!.at(-1)).toBe(last.step);
      if (new Set(path.map((e) => e.code)).size > 1) {
        mixed += 1;
      }
    }
    // Batch 1 went through both codes: a on the old, b and c on the new.
    expect(mixed).toBeGreaterThanOrEqual(ids1.length);
    for (const runId of ids1) {
      expect(
        executions
          .filter((e) => e.runId === runId)
          .sort((x, y) => x.ordinal - y.ordinal)
          .map((e) => `${e.code}.${e.step}`),
      ).toEqual(['OldPipeline.a', 'NewPipeline.b', 'NewPipeline.c']);
    }
    // The old code never ran a step it lacks, nor a run of version 2.
    const oldRan = await query<{ step_name: string }>(
      `select distinct a.step_name from ${schema}.step_attempt a where a.worker = 'old' order by 1`,
    );
    expect(
      oldRan.map((r) => r.step_name).every((s) => ['a', 'b', 'c'].includes(s)),
    ).toBe(true);
    expect(
      executions.filter(
        (e) => e.code === 'OldPipeline' && versions.get(e.runId) === 2,
      ),
    ).toEqual([]);
    await fresh.close();
  });
});
