import {
  Column,
  Entity,
  EntitySubscriberInterface,
  InsertEvent,
  PrimaryGeneratedColumn,
} from 'typeorm';
import {
  Activity,
  currentActivity,
  RunDetails,
  Step,
  StepContext,
  Transition,
  Workflow,
  WorkflowClient,
} from '@underway/nestjs';
import { createTestApp, TestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { waitFor } from '../support/wait-for';

/**
 * Whatever a transactional step does through `ctx.manager`, its writes and
 * its fenced outcome commit together, once, or not at all (issue #20, items
 * 4, 5, 6 and 13): a step cannot end the transaction it was given, a failure
 * of its own writes is its own failed attempt (with the real error), a lock
 * it takes on its own run is named instead of ending in a lease loop, and
 * everything reached through the manager refuses once the attempt ended.
 */

/** An app entity, in `public`: rows are told apart by run id. */
@Entity({ name: 'tx_guard_row' })
class GuardRow {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'uuid' }) runId!: string;
  @Column() label!: string;
}

/** An entity whose insert, through a subscriber, ends the transaction on the raw connection. */
@Entity({ name: 'tx_guard_event' })
class GuardEvent {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'uuid' }) runId!: string;
}

/**
 * A TypeORM subscriber (public TypeORM API) gets the raw query runner, and
 * through it the raw connection: what no guard on `ctx.manager` can see.
 * Here it commits the step's transaction and opens another one.
 */
class EndingSubscriber implements EntitySubscriberInterface<GuardEvent> {
  listenTo(): typeof GuardEvent {
    return GuardEvent;
  }

  async afterInsert(event: InsertEvent<GuardEvent>): Promise<void> {
    const connection = (
      event.queryRunner as unknown as {
        databaseConnection: { query(text: string): Promise<unknown> };
      }
    ).databaseConnection;
    await connection.query('COMMIT');
    await connection.query('BEGIN');
  }
}

const recorder = new StepRecorder();
/** What each refused call threw, by mode: its error's code (or name). */
let refusals: Record<string, string[]> = {};
let kept: {
  repository?: { find(): Promise<unknown> };
  queryRunner?: { query(text: string): Promise<unknown> };
  queryBuilder?: { getMany(): Promise<unknown> };
} = {};

function refused(mode: string, err: unknown): void {
  const { code, name } = (err ?? {}) as { code?: unknown; name?: unknown };
  (refusals[mode] ??= []).push(String(code ?? name));
}

/** Every statement below would end the step's transaction, or begin or shape another. */
const TRANSACTION_CONTROL = [
  'COMMIT',
  'commit work',
  'END',
  'ROLLBACK',
  'abort',
  'BEGIN',
  'START TRANSACTION',
  'PREPARE TRANSACTION $$x$$',
  "COMMIT PREPARED 'x'",
  "ROLLBACK PREPARED 'x'",
  'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE',
  'SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY',
  'SET LOCAL transaction_read_only = on',
  'select 1; commit',
  "select ';'; /* a comment; */ -- another\n rollback",
  '/* leading comment */ begin',
  '-- a line comment\nCOMMIT AND CHAIN',
  '  ;; end transaction',
];

interface GuardInput {
  mode: string;
  /** The test's schema, for the steps that touch their own run's row. */
  schema?: string;
}

@Workflow({
  name: 'tx-guard',
  retry: { maxAttempts: 2, initialInterval: 10, jitterFactor: 0 },
})
class GuardWorkflow {
  constructor(private readonly client: WorkflowClient) {}

  @Activity({ transactional: true })
  async store(mode: string): Promise<string> {
    const { manager, runId } = currentActivity();
    await manager!.save(GuardRow, { runId, label: `activity-${mode}` });
    switch (mode) {
      case 'activity-commit':
        await manager!.query('COMMIT'); // refused: fails the call
        break;
      case 'activity-cancel-own':
        await this.client.cancel(runId, { manager }); // refused: fails the call
        break;
      case 'activity-late':
        kept.repository = manager!.getRepository(GuardRow);
        break;
    }
    return 'stored';
  }

  @Step({ transactional: true, heartbeat: 600, timeout: '20s' })
  async act(input: GuardInput, ctx: StepContext<GuardWorkflow>) {
    recorder.record('act', input.mode, ctx);
    const manager = ctx.manager!;
    const label = `${input.mode}-${ctx.attempt}`;
    await manager.save(GuardRow, { runId: ctx.runId, label });
    switch (input.mode) {
      case 'rollback-then-next':
        await manager.query('ROLLBACK');
        break;
      case 'commit-then-throw':
        await manager.query('COMMIT').catch((err: unknown) => {
          refused(input.mode, err);
        });
        throw new Error('the step failed after its COMMIT');
      case 'runner-commit':
        await manager.queryRunner!.commitTransaction();
        break;
      case 'runner-release':
        await manager.queryRunner!.release();
        break;
      case 'all-refused':
        for (const statement of TRANSACTION_CONTROL) {
          await manager.query(statement).then(
            () => refused(input.mode, `ran: ${statement}`),
            (err: unknown) => refused(input.mode, err),
          );
        }
        // At the top level: a startTransaction() here would open a
        // savepoint (see 'savepoints'), but these would end the transaction
        // or let go of its connection.
        for (const call of [
          () => manager.queryRunner!.commitTransaction(),
          () => manager.queryRunner!.rollbackTransaction(),
          () => manager.queryRunner!.release(),
          () => manager.queryRunner!.connect(),
          () =>
            (manager.queryRunner as unknown as { databaseConnection: unknown })
              .databaseConnection,
          () => manager.release(),
        ]) {
          await Promise.resolve()
            .then(call)
            .then(
              () => refused(input.mode, 'ran'),
              (err: unknown) => refused(input.mode, err),
            );
        }
        break;
      case 'savepoints':
        await manager.transaction(async (nested) => {
          await nested.save(GuardRow, { runId: ctx.runId, label: 'nested' });
        });
        await manager
          .transaction(async (nested) => {
            await nested.save(GuardRow, {
              runId: ctx.runId,
              label: 'nested-rolled-back',
            });
            throw new Error('undo the nested part');
          })
          .catch(() => undefined);
        await manager.query('SAVEPOINT mine');
        await manager.save(GuardRow, { runId: ctx.runId, label: 'undone' });
        await manager.query('ROLLBACK TO SAVEPOINT mine');
        await manager.query('RELEASE SAVEPOINT mine');
        // Inside the step's transaction, the query runner's own methods are
        // a savepoint's too (what manager.transaction() calls).
        await manager.queryRunner!.startTransaction();
        await manager.save(GuardRow, { runId: ctx.runId, label: 'undone-2' });
        await manager.queryRunner!.rollbackTransaction();
        await manager.queryRunner!.startTransaction();
        await manager.save(GuardRow, { runId: ctx.runId, label: 'released' });
        await manager.queryRunner!.commitTransaction();
        break;
      case 'subscriber-ends-it':
        await manager.save(GuardEvent, { runId: ctx.runId });
        await manager.save(GuardRow, { runId: ctx.runId, label: 'after-it' });
        break;
      case 'deferred':
        await manager.query(
          `insert into tx_guard_unique (k, run_id) values ($1, $2)`,
          [`k-${ctx.runId}`, ctx.runId],
        );
        if (ctx.attempt === 1) {
          // Refused only at COMMIT: the constraint is deferred.
          await manager.query(
            `insert into tx_guard_unique (k, run_id) values ($1, $2)`,
            [`k-${ctx.runId}`, ctx.runId],
          );
        }
        break;
      case 'caught-error':
        if (ctx.attempt === 1) {
          await manager
            .query('select 1 / (select 0) as boom')
            .catch(() => undefined);
          // Every statement after it fails with "current transaction is aborted".
          await manager.query('select 2').catch(() => undefined);
        }
        break;
      case 'refused-output':
        return Transition.complete({ note: 'refuse-me' });
      case 'cancel-own':
        await this.client.cancel(ctx.runId, { manager });
        break;
      case 'lock-own':
        await manager.query(
          `select id from ${input.schema}.workflow_run where id = $1 for update`,
          [ctx.runId],
        );
        // Holds the lock well past the 600 ms lease (unless aborted).
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 5_000);
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        break;
      case 'activity-commit':
      case 'activity-cancel-own':
      case 'activity-late':
        await ctx.call('store', input.mode);
        break;
      case 'late':
        kept = {
          repository: manager.getRepository(GuardRow),
          queryRunner: manager.queryRunner!,
          queryBuilder: manager.createQueryBuilder(GuardRow, 'row'),
        };
        break;
    }
    return Transition.next({ mode: input.mode });
  }

  @Step()
  async after(input: GuardInput, ctx: StepContext) {
    recorder.record('after', input.mode, ctx);
    return Transition.complete('done');
  }
}

async function rows(runId: string): Promise<string[]> {
  const found = await query<{ label: string }>(
    `select label from tx_guard_row where "runId" = $1 order by id`,
    [runId],
  );
  return found.map((r) => r.label);
}

/** The run once it has finished (failed or succeeded). */
async function finished(app: TestApp, runId: string): Promise<RunDetails> {
  return waitFor(
    async () => {
      const run = await app.client.getRun(runId);
      return run && ['failed', 'succeeded', 'cancelled'].includes(run.state)
        ? run
        : undefined;
    },
    { timeoutMs: 20_000, message: `run ${runId} did not finish` },
  );
}

function attemptsOf(run: RunDetails): [number, string, string | undefined][] {
  return run.attempts.map((a) => [a.stepIndex, a.state, a.error?.code]);
}

/**
 * Connections of these tests' steps left inside a transaction (none may be,
 * between attempts): told apart by their last statement, on this suite's
 * tables (other suites may run at the same time).
 */
async function openTransactions(): Promise<number> {
  const [row] = await query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity
     where datname = current_database() and query like '%tx_guard_%'
       and state in ('idle in transaction', 'idle in transaction (aborted)')`,
  );
  return row!.n;
}

describe('transactional steps: what the step does to its transaction', () => {
  beforeAll(async () => {
    await query(
      `create table if not exists tx_guard_row (id serial primary key, "runId" uuid not null, label text not null)`,
    );
    await query(
      `create table if not exists tx_guard_event (id serial primary key, "runId" uuid not null)`,
    );
    await query(
      `create table if not exists tx_guard_unique (
         k text not null, run_id uuid not null,
         constraint tx_guard_unique_k unique (k) deferrable initially deferred)`,
    );
  });

  beforeEach(() => {
    recorder.clear();
    refusals = {};
    kept = {};
  });

  async function app(): Promise<TestApp> {
    return createTestApp({
      workflows: [GuardWorkflow],
      entities: [GuardRow, GuardEvent],
    });
  }

  describe('ending its own transaction (item 4)', () => {
    it('refuses ROLLBACK through ctx.manager: the run fails with transaction_control, nothing commits, the next step never runs', async () => {
      const test = await app();
      const run = await test.client.enqueue(GuardWorkflow, {
        mode: 'rollback-then-next',
      });
      const done = await finished(test, run.id);
      expect(done.state).toBe('failed');
      expect(done.error).toMatchObject({
        code: 'transaction_control',
        name: 'TransactionControlError',
        message: expect.stringMatching(/ROLLBACK.*Transition/s),
      });
      // Fatal: a retry would send it again.
      expect(attemptsOf(done)).toEqual([[0, 'failed', 'transaction_control']]);
      expect(await rows(run.id)).toEqual([]);
      expect(recorder.count('after')).toBe(0);
    });

    it('refuses COMMIT through ctx.manager: a step that throws afterwards keeps none of its writes', async () => {
      const test = await app();
      const run = await test.client.enqueue(GuardWorkflow, {
        mode: 'commit-then-throw',
      });
      const done = await finished(test, run.id);
      expect(done.state).toBe('failed');
      expect(attemptsOf(done)).toEqual([
        [0, 'failed', 'error'],
        [0, 'failed', 'error'],
      ]);
      expect(done.error?.message).toBe('the step failed after its COMMIT');
      expect(refusals['commit-then-throw']).toEqual([
        'transaction_control',
        'transaction_control',
      ]);
      expect(await rows(run.id)).toEqual([]);
    });

    it('refuses queryRunner.commitTransaction(): nothing persists, the run fails with transaction_control', async () => {
      const test = await app();
      const run = await test.client.enqueue(GuardWorkflow, {
        mode: 'runner-commit',
      });
      const done = await finished(test, run.id);
      expect(attemptsOf(done)).toEqual([[0, 'failed', 'transaction_control']]);
      expect(done.error?.message).toContain('commitTransaction');
      expect(await rows(run.id)).toEqual([]);
      expect(recorder.count('after')).toBe(0);
    });

    it('refuses queryRunner.release(): the connection never reaches the pool with the step’s transaction, so an unrelated run’s commit commits only its own writes', async () => {
      const test = await app();
      const released = await test.client.enqueue(GuardWorkflow, {
        mode: 'runner-release',
      });
      const failed = await finished(test, released.id);
      expect(failed.state).toBe('failed');
      expect(attemptsOf(failed)).toEqual([
        [0, 'failed', 'transaction_control'],
      ]);
      expect(failed.error?.message).toContain('release');
      // An unrelated run, on the same app pool (3 connections), afterwards.
      const other = await test.client.enqueue(GuardWorkflow, {
        mode: 'plain',
      });
      await expect(other.result({ timeout: 10_000 })).resolves.toBe('done');
      expect(await rows(other.id)).toEqual(['plain-1']);
      expect(await rows(released.id)).toEqual([]);
      expect(await openTransactions()).toBe(0);
    });

    it('refuses every form of transaction control (multi-statement strings, after comments, runner methods) and changes nothing: caught, the step’s writes commit with its outcome once', async () => {
      const test = await app();
      const run = await test.client.enqueue(GuardWorkflow, {
        mode: 'all-refused',
      });
      await expect(run.result({ timeout: 10_000 })).resolves.toBe('done');
      expect(refusals['all-refused']).toEqual(
        Array(TRANSACTION_CONTROL.length + 6).fill('transaction_control'),
      );
      expect(await rows(run.id)).toEqual(['all-refused-1']);
      const done = await test.client.getRun(run.id);
      expect(attemptsOf(done!)).toEqual([
        [0, 'succeeded', undefined],
        [1, 'succeeded', undefined],
      ]);
    });

    it('allows savepoints and nested manager.transaction(): they cannot end the step’s transaction', async () => {
      const test = await app();
      const run = await test.client.enqueue(GuardWorkflow, {
        mode: 'savepoints',
      });
      await expect(run.result({ timeout: 10_000 })).resolves.toBe('done');
      expect(await rows(run.id)).toEqual([
        'savepoints-1',
        'nested',
        'released',
      ]);
    });

    it('fails the attempt when the transaction was ended where no guard sees it (a subscriber’s raw connection): the outcome is not committed in another transaction', async () => {
      const test = await app();
      test.dataSource.subscribers.push(new EndingSubscriber());
      const run = await test.client.enqueue(GuardWorkflow, {
        mode: 'subscriber-ends-it',
      });
      const done = await finished(test, run.id);
      expect(done.state).toBe('failed');
      expect(attemptsOf(done)).toEqual([[0, 'failed', 'transaction_control']]);
      expect(done.error?.message).toMatch(
        /not in the transaction it was given \(it was ended, and another one begun\)/,
      );
      // What the raw connection committed is beyond recall; what the step
      // wrote afterwards, in the other transaction, is rolled back with it.
      expect(await rows(run.id)).toEqual(['subscriber-ends-it-1']);
      expect(recorder.count('after')).toBe(0);
      expect(await openTransactions()).toBe(0);
    });
  });

  describe('the step’s own database errors (item 5)', () => {
    it('a deferred constraint refused at COMMIT is a failed attempt with the real error, retried', async () => {
      const test = await app();
      const run = await test.client.enqueue(GuardWorkflow, {
        mode: 'deferred',
      });
      await expect(run.result({ timeout: 10_000 })).resolves.toBe('done');
      const done = await test.client.getRun(run.id);
      expect(attemptsOf(done!)).toEqual([
        [0, 'failed', 'error'],
        [0, 'succeeded', undefined],
        [1, 'succeeded', undefined],
      ]);
      expect(done!.attempts[0]!.error?.message).toContain(
        'duplicate key value violates unique constraint "tx_guard_unique_k"',
      );
      expect(await rows(run.id)).toEqual(['deferred-2']);
      const unique = await query(
        `select k from tx_guard_unique where run_id = $1`,
        [run.id],
      );
      expect(unique).toHaveLength(1);
    });

    it('a statement error the step caught (its transaction aborted) is a failed attempt recorded with that statement’s error, retried', async () => {
      const test = await app();
      const run = await test.client.enqueue(GuardWorkflow, {
        mode: 'caught-error',
      });
      await expect(run.result({ timeout: 10_000 })).resolves.toBe('done');
      const done = await test.client.getRun(run.id);
      expect(attemptsOf(done!)).toEqual([
        [0, 'failed', 'error'],
        [0, 'succeeded', undefined],
        [1, 'succeeded', undefined],
      ]);
      expect(done!.attempts[0]!.error?.message).toContain('division by zero');
      expect(done!.attempts[0]!.error?.message).not.toContain(
        'current transaction is aborted',
      );
      expect(await rows(run.id)).toEqual(['caught-error-2']);
    });

    it('an outcome the database refuses is still unstorable_outcome, the step’s writes rolled back', async () => {
      const test = await app();
      await query(`
        create function ${test.schema}.refuse_marked_output() returns trigger
        language plpgsql set search_path = pg_catalog as $$
        begin
          if new.output::text like '%refuse-me%' then
            raise exception 'this output is refused' using errcode = '22023';
          end if;
          return new;
        end $$`);
      await query(`
        create trigger refuse_marked_output before update on ${test.schema}.workflow_run
        for each row execute function ${test.schema}.refuse_marked_output()`);
      const run = await test.client.enqueue(GuardWorkflow, {
        mode: 'refused-output',
      });
      const done = await finished(test, run.id);
      expect(attemptsOf(done)).toEqual([[0, 'failed', 'unstorable_outcome']]);
      expect(done.error?.message).toContain('this output is refused');
      expect(await rows(run.id)).toEqual([]);
    });
  });

  describe('locks on its own run (item 6)', () => {
    it('refuses client.cancel() of its own run through ctx.manager with own_run_lock, instead of a lease loop', async () => {
      const test = await app();
      const run = await test.client.enqueue(GuardWorkflow, {
        mode: 'cancel-own',
      });
      const done = await finished(test, run.id);
      expect(done.state).toBe('failed');
      expect(attemptsOf(done)).toEqual([[0, 'failed', 'own_run_lock']]);
      expect(done.error?.message).toContain('client.cancel()');
      expect(await rows(run.id)).toEqual([]);
    });

    it('aborts a step whose transaction holds a lock on its own run’s row past its lease renewal, with own_run_lock, instead of a lease loop', async () => {
      const test = await app();
      const run = await test.client.enqueue(GuardWorkflow, {
        mode: 'lock-own',
        schema: test.schema,
      });
      const done = await finished(test, run.id);
      expect(done.state).toBe('failed');
      expect(attemptsOf(done)).toEqual([[0, 'failed', 'own_run_lock']]);
      expect(done.error?.message).toMatch(/lock on its own run/);
      expect(await rows(run.id)).toEqual([]);
      expect(
        test.logs
          .messages('error')
          .some((m) => m.includes(run.id) && m.includes('own_run_lock')),
      ).toBe(true);
      expect(await openTransactions()).toBe(0);
    });

    it('refuses client.cancel() of its own run through a transactional activity’s manager', async () => {
      const test = await app();
      const run = await test.client.enqueue(GuardWorkflow, {
        mode: 'activity-cancel-own',
      });
      const done = await finished(test, run.id);
      expect(done.state).toBe('failed');
      expect(done.error?.code).toBe('activity_failed');
      expect(
        done.activityCalls[0]?.attempts.map((a) => [a.state, a.error?.code]),
      ).toEqual([['failed', 'own_run_lock']]);
      expect(await rows(run.id)).toEqual([]);
    });
  });

  it('applies the same guards to a transactional activity: its COMMIT is refused, its writes rolled back', async () => {
    const test = await app();
    const run = await test.client.enqueue(GuardWorkflow, {
      mode: 'activity-commit',
    });
    const done = await finished(test, run.id);
    expect(done.state).toBe('failed');
    expect(
      done.activityCalls[0]?.attempts.map((a) => [a.state, a.error?.code]),
    ).toEqual([['failed', 'transaction_control']]);
    expect(await rows(run.id)).toEqual([]);
  });

  describe('objects kept from ctx.manager (item 13)', () => {
    it('refuses a repository, query runner or query builder kept from ctx.manager after the step returned, with TransactionClosedError', async () => {
      const test = await app();
      const run = await test.client.enqueue(GuardWorkflow, { mode: 'late' });
      await expect(run.result({ timeout: 10_000 })).resolves.toBe('done');
      const closed = { code: 'transaction_closed' };
      await expect(
        (async () => kept.repository!.find())(),
      ).rejects.toMatchObject(closed);
      await expect(
        (async () => kept.queryRunner!.query('select 1'))(),
      ).rejects.toMatchObject(closed);
      await expect(
        (async () => kept.queryBuilder!.getMany())(),
      ).rejects.toMatchObject(closed);
    });

    it('refuses a repository kept from a transactional activity’s manager once the activity ended', async () => {
      const test = await app();
      const run = await test.client.enqueue(GuardWorkflow, {
        mode: 'activity-late',
      });
      await expect(run.result({ timeout: 10_000 })).resolves.toBe('done');
      await expect(
        (async () => kept.repository!.find())(),
      ).rejects.toMatchObject({ code: 'transaction_closed' });
    });
  });
});
