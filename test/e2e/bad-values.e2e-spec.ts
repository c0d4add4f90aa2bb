import {
  MAX_STORED_DURATION_MS,
  INT32_MAX,
  INT32_MIN,
} from '@underway/nestjs/common/limits';
import {
  Step,
  StepContext,
  StepError,
  Transition,
  Workflow,
  WorkflowRunFailedError,
} from '@underway/nestjs';
import { MAX_TIMER_DELAY_MS } from '@underway/nestjs/common/timers';
import {
  MAX_CONCURRENCY,
  MAX_PREFETCH,
} from '@underway/nestjs/options/resolve-options';
import { createTestApp, TestApp } from '../support/create-test-app';
import { query } from '../support/database';

/**
 * Values the worker cannot classify or commit, and the extremes of every
 * option, run end to end: each attempt ends with a recorded, honest error
 * (fatal where retrying cannot help), never with a lapsed lease, and whatever
 * boots can run.
 */

const FAST = { initialInterval: 10, maxInterval: 20, jitterFactor: 0 };
let calls: Record<string, number> = {};
const count = (name: string): void => {
  calls[name] = (calls[name] ?? 0) + 1;
};
beforeEach(() => {
  calls = {};
});

class UnreadableError extends Error {
  override get message(): string {
    throw new Error('no message for you');
  }
}

@Workflow({ name: 'bad-values', retry: { ...FAST, maxAttempts: 2 } })
class BadValuesWorkflow {
  @Step()
  async act(input: { what: string }, ctx: StepContext) {
    count(input.what);
    switch (input.what) {
      case 'fatal-without-code':
        throw StepError.fatal(undefined as unknown as string, 'no code given');
      case 'unreadable-message':
        throw new UnreadableError();
      case 'unreadable-object':
        // eslint-disable-next-line @typescript-eslint/only-throw-error
        throw {
          toString() {
            throw new Error('no');
          },
          toJSON() {
            throw new Error('no');
          },
        };
      case 'revoked-proxy': {
        const { proxy, revoke } = Proxy.revocable({}, {});
        revoke();
        throw proxy; // eslint-disable-line @typescript-eslint/only-throw-error
      }
      case 'huge-delay':
        return Transition.after({}, 1e20);
      case 'unknown-kind':
        return {
          [Symbol.for('underway:transition')]: true,
          kind: 'jump',
        } as unknown as Transition;
      case 'unreadable-transition':
        return {
          [Symbol.for('underway:transition')]: true,
          get kind(): string {
            throw new Error('no kind');
          },
        } as unknown as Transition;
      case 'refused-output':
        return Transition.complete({ marker: 'refuse-me' });
    }
    return Transition.next({ attempt: ctx.attempt });
  }

  @Step()
  async after() {
    return Transition.complete();
  }
}

async function failedRun(app: TestApp, what: string) {
  const run = await app.client.enqueue(BadValuesWorkflow, { what });
  await expect(run.result({ timeout: 15_000 })).rejects.toBeInstanceOf(
    WorkflowRunFailedError,
  );
  const details = await app.client.getRun(run.id);
  return details!;
}

describe('values the worker cannot classify or commit', () => {
  it.each<[string, number, string, string]>([
    ['fatal-without-code', 1, 'error', 'no code given'],
    ['unreadable-message', 2, 'error', 'whose message cannot be read'],
    ['unreadable-object', 2, 'error', 'Non-Error value thrown: '],
    ['revoked-proxy', 2, 'error', 'could not be read'],
    ['huge-delay', 1, 'invalid_options', 'Transition.after delay'],
    ['unknown-kind', 1, 'invalid_transition', 'unknown kind "jump"'],
    ['unreadable-transition', 1, 'invalid_transition', 'could not be read'],
  ])(
    '%s: %i recorded attempt(s), ending with [%s] "%s", never a lapsed lease',
    async (what, attempts, code, message) => {
      const app = await createTestApp({ workflows: [BadValuesWorkflow] });
      const run = await failedRun(app, what);
      expect(run.state).toBe('failed');
      expect(run.attempts).toHaveLength(attempts);
      for (const attempt of run.attempts) {
        expect(attempt.state).toBe('failed');
        expect(attempt.error?.code).toBe(code);
        expect(attempt.error?.message).toContain(message);
      }
      expect(calls[what]).toBe(attempts);
    },
  );

  it('an outcome the database refuses for good fails the run with that reason, once', async () => {
    const app = await createTestApp({ workflows: [BadValuesWorkflow] });
    // A rule of the operator's: the database refuses this output (22023, not transient).
    await query(`
      create function ${app.schema}.refuse_marked_output() returns trigger
      language plpgsql set search_path = pg_catalog as $$
      begin
        if new.output::text like '%refuse-me%' then
          raise exception 'this output is refused' using errcode = '22023';
        end if;
        return new;
      end $$`);
    await query(`
      create trigger refuse_marked_output before update on ${app.schema}.workflow_run
      for each row execute function ${app.schema}.refuse_marked_output()`);

    const run = await failedRun(app, 'refused-output');
    expect(calls['refused-output']).toBe(1);
    expect(run.attempts).toHaveLength(1);
    expect(run.attempts[0]).toMatchObject({
      state: 'failed',
      error: {
        code: 'unstorable_outcome',
        message: expect.stringContaining(
          'this output is refused (SQLSTATE 22023)',
        ),
      },
    });
    expect(
      app.logs.entries.some((entry) =>
        entry.message.includes('the lease will lapse'),
      ),
    ).toBe(false);
  });
});

@Workflow({
  name: 'extremes',
  ttl: MAX_STORED_DURATION_MS,
  priority: INT32_MIN,
  retry: { maxAttempts: 1_000_000, maxInterval: MAX_STORED_DURATION_MS },
})
class ExtremesWorkflow {
  @Step({ priority: INT32_MAX })
  async first() {
    return Transition.next({});
  }

  @Step({ retry: { initialInterval: MAX_STORED_DURATION_MS } })
  async second() {
    return Transition.complete('done');
  }
}

@Workflow({ name: 'far-future' })
class FarFutureWorkflow {
  @Step({ delay: MAX_STORED_DURATION_MS })
  async later() {
    return Transition.complete();
  }
}

@Workflow({ name: 'tiny' })
class TinyWorkflow {
  @Step()
  async only() {
    return Transition.complete();
  }
}

describe('the extremes of every option run end to end', () => {
  it('decorator options at their largest and smallest: the run completes, its row holds them', async () => {
    const app = await createTestApp({
      workflows: [ExtremesWorkflow, FarFutureWorkflow],
    });
    const run = await app.client.enqueue(ExtremesWorkflow, undefined);
    await expect(run.result({ timeout: 15_000 })).resolves.toBe('done');
    const [row] = await query<{ years: number; max_attempts: number }>(
      `select extract(year from expires_at)::int - extract(year from now())::int as years,
              max_attempts
       from ${app.schema}.workflow_run where id = $1`,
      [run.id],
    );
    expect(row).toEqual({ years: 100, max_attempts: 1_000_000 });

    // A first step delayed by 100 years: stored, pending, due in 100 years.
    const later = await app.client.enqueue(FarFutureWorkflow, undefined);
    const [due] = await query<{ years: number; state: string }>(
      `select extract(year from run_at)::int - extract(year from now())::int as years, state
       from ${app.schema}.workflow_run where id = $1`,
      [later.id],
    );
    expect(due).toEqual({ years: 100, state: 'pending' });
    await expect(later.cancel()).resolves.toBe(true);
  });

  it('module options at their largest: the app boots, runs a workflow and shuts down', async () => {
    const app = await createTestApp({
      workflows: [ExtremesWorkflow],
      underway: {
        runtime: {
          concurrency: MAX_CONCURRENCY,
          prefetch: MAX_PREFETCH,
          // Notifications wake it; the poll would come in 24.8 days.
          pollInterval: MAX_TIMER_DELAY_MS,
          maintenanceInterval: MAX_TIMER_DELAY_MS,
        },
        maxInputSize: 268_435_455,
        shutdownTimeout: MAX_TIMER_DELAY_MS,
        defaults: {
          timeout: MAX_TIMER_DELAY_MS,
          heartbeat: MAX_TIMER_DELAY_MS,
          ttl: MAX_STORED_DURATION_MS,
          retry: { maxAttempts: 1_000_000 },
        },
        connections: { statementTimeout: '1h', connectTimeout: '10m' },
      },
    });
    const run = await app.client.enqueue(ExtremesWorkflow, undefined);
    await expect(run.result({ timeout: 15_000 })).resolves.toBe('done');
    await app.close();
  });

  // The smallest lease, statement and connect timeouts are accepted (see
  // resolve-options.spec); here, those that a loaded machine still runs with.
  it('module options at their smallest: the app boots, runs a workflow and shuts down', async () => {
    const app = await createTestApp({
      workflows: [TinyWorkflow],
      underway: {
        runtime: {
          concurrency: 1,
          prefetch: 0,
          pollInterval: 1,
          maintenanceInterval: 1,
        },
        // The run has no input and no output: nothing to store.
        maxInputSize: 1,
        shutdownTimeout: 0,
        defaults: {
          retry: { maxAttempts: 1, initialInterval: 0, maxInterval: 0 },
        },
        reconnectBackoff: { initial: 1, max: 1 },
      },
    });
    const run = await app.client.enqueue(TinyWorkflow, undefined);
    await expect(run.result({ timeout: 15_000 })).resolves.toBeUndefined();
    await app.close();
  });
});
