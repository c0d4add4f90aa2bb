import type { Type } from '@nestjs/common';
import type {
  EnqueueOptions,
  SignalOptions,
} from '../client/enqueue-options.interface';
import type { SignalResult } from '../engine/run-signals';
import type { WorkflowRun } from '../client/workflow-run';
import {
  SignalArgs,
  SignalTarget,
  WorkflowClient,
} from '../client/workflow.client';
import { isUuid } from '../common/uuid';
import { PoolExecutor, SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import { UnderwayDatabase } from '../database/underway-database';
import type { SignalDefinition } from '../decorators/define-signal';
import type { RunOutput, WorkflowInputArgs } from '../decorators/workflow-io';
import { WorkflowRef, WorkflowRegistry } from '../discovery/workflow.registry';
import { RunNotFoundError } from '../errors/run-not-found.error';
import { UnderwayClosedError } from '../errors/underway-closed.error';
import { UnderwayEvents } from '../events/underway-events';
import type {
  ActivityArgs,
  ActivityName,
  ActivityResult,
} from '../execution/step-context';
import type { RunDetails } from '../model/run-details';
import type { ResolvedOptions } from '../options/resolved-options';
import { WorkerService } from '../worker/worker.service';
import { ActivityMocks } from './activity-mocks';
import { RunProgressRow, runProgress } from './clock.sql';
import { stuckRunError } from './stuck-run';
import { TestClock } from './test-clock';
import { TestEvents } from './test-events';
import { TestKitNotStartedError } from './test-kit-not-started.error';

/** The most times `finish()` moves the clock for one run before giving up. */
const MAX_MOVES = 1_000;
const FINISHED: ReadonlySet<string> = new Set([
  'succeeded',
  'failed',
  'cancelled',
]);

/**
 * A body for the activity `K` of workflow `W`: its parameters, and its
 * result (or a promise of it).
 *
 * @publicApi
 */
export type ActivityMock<W, K> = (
  ...args: ActivityArgs<W, K>
) => ActivityResult<W, K> | Promise<ActivityResult<W, K>>;

/**
 * Tests workflows on a real PostgreSQL in milliseconds, with a clock the
 * test moves. The app boots with `UnderwayModule.forRoot({ runtime:
 * 'manual' })` (or its options overridden so): it runs no worker of its
 * own, and nothing runs until the test says so.
 *
 * ```ts
 * const kit = createUnderwayTestKit(app); // or app.get(UnderwayTestKit)
 * const output = await kit.runToCompletion(ExpenseWorkflow, { id: 7 });
 * ```
 *
 * - `drain()` runs every due task in the test's process (steps, activity
 *   calls, schedules' due fires, waits past their deadline), through the
 *   claim, attempt and commit path of production, until nothing is due.
 * - `clock.advance('3d')` moves Underway's clock for this schema.
 * - `runToCompletion(workflow, input)` enqueues, drains and moves the clock
 *   until the run ends; `finish(run)` does the same for a run already
 *   enqueued.
 * - `mockActivity(workflow, name, fn)`, `signal(...)`, `events.next(name,
 *   fields)`, and `client`, the app's `WorkflowClient`.
 *
 * @publicApi
 */
export class UnderwayTestKit {
  /** Underway's clock for this app's schema. */
  readonly clock: TestClock;
  /** The app's events, to wait on one. */
  readonly events: TestEvents;
  private readonly mocks = new ActivityMocks();
  private readonly executor: SqlExecutor;
  private readonly schema: Schema;
  /** Drains and clock moves take turns. */
  private turn: Promise<unknown> = Promise.resolve();
  /** The clock's offset when retention last ran. */
  private prunedAt = 0;
  private closed = false;

  /** @internal Made by `UnderwayModule` for `runtime: 'manual'`. */
  constructor(
    private readonly worker: WorkerService,
    /** The app's client: enqueue, inspect, cancel, schedule… */
    readonly client: WorkflowClient,
    private readonly registry: WorkflowRegistry,
    database: UnderwayDatabase,
    events: UnderwayEvents,
    options: ResolvedOptions,
  ) {
    // The library's pool, made when first used (not when the app boots).
    this.executor = {
      query: (query) => new PoolExecutor(database.pool).query(query),
      afterCommit: (fn) => fn(),
      atomically: (fn) => new PoolExecutor(database.pool).atomically(fn),
    };
    this.schema = options.schema;
    this.clock = new TestClock(
      this.executor,
      this.schema,
      (fn) => this.exclusive(fn),
      (operation) => this.assertUsable(operation),
    );
    this.events = new TestEvents(events);
  }

  /**
   * Runs every due task in this process until nothing is due: it fires the
   * schedules' due ticks, then claims the due steps and activity calls (up
   * to the runtime's `concurrency` at once) and runs them, with their
   * leases, events and fenced commits, as the worker would, ending the
   * waits and sleeps past their deadline as it goes, until a claim finds
   * nothing. After the clock moved, it also deletes the finished runs past
   * their retention (`ttl`). Work that falls due later (a delay, a backoff)
   * waits for `clock.advance()`.
   * @returns how many tasks (steps and activity calls) it ran
   * @throws TestKitNotStartedError before `app.init()`; UnderwayClosedError after close
   */
  async drain(): Promise<number> {
    this.assertUsable('UnderwayTestKit.drain()');
    return this.exclusive(async () => {
      const manual = await this.worker.manual('UnderwayTestKit.drain()');
      if (!manual) {
        return 0; // no workflow registered: nothing can be due
      }
      const ran = await manual.drain();
      await this.clock.rephaseSchedules();
      if (this.clock.offsetMs !== this.prunedAt) {
        this.prunedAt = this.clock.offsetMs;
        await manual.prune();
      }
      return ran;
    });
  }

  /**
   * Enqueues a run (as `client.enqueue`, typed the same way), then drains
   * and moves the clock until it finishes.
   * @returns its output
   * @throws WorkflowRunFailedError when it fails or is cancelled;
   *   RunStuckError when it cannot finish by time alone (a signal with no
   *   timeout); the errors of `enqueue`
   */
  async runToCompletion<TOutput = never, W extends WorkflowRef = WorkflowRef>(
    workflow: W,
    ...[input, options]: WorkflowInputArgs<W, EnqueueOptions>
  ): Promise<RunOutput<TOutput, W>> {
    const run = await (
      this.client.enqueue as (
        workflow: WorkflowRef,
        input: unknown,
        options?: EnqueueOptions,
      ) => Promise<WorkflowRun<RunOutput<TOutput, W>>>
    )(workflow, input, options);
    return this.finish(run);
  }

  /**
   * Drains and moves the clock until the run finishes: each time nothing is
   * left to run, the clock moves to when its next piece of work is due (its
   * step, a retry, a wait's timeout, a sleep's end), or, when it is held
   * back by other work (a concurrency key), to when anything is next due.
   * @returns its output (`run.result()`'s)
   * @throws WorkflowRunFailedError when it fails or is cancelled;
   *   RunStuckError when nothing can move it (a signal with no timeout);
   *   RunNotFoundError for an unknown run
   */
  async finish<TOutput = unknown>(
    run: WorkflowRun<TOutput> | string,
  ): Promise<TOutput> {
    const runId = typeof run === 'string' ? run : run.id;
    for (let moves = 0; ; moves += 1) {
      await this.drain();
      const progress = await this.progress(runId);
      if (progress.state === null) {
        throw new RunNotFoundError(runId);
      }
      if (FINISHED.has(progress.state)) {
        return this.client.result<TOutput>(runId);
      }
      const ownDue = progress.own_due_in_ms;
      const moveBy =
        ownDue !== null && ownDue > 0 ? ownDue : progress.next_due_in_ms;
      if (moveBy === null || moves >= MAX_MOVES) {
        const details = (await this.client.getRun(runId)) as RunDetails;
        throw stuckRunError(
          details,
          moves >= MAX_MOVES
            ? { moves, offsetMs: this.clock.offsetMs }
            : undefined,
        );
      }
      await this.clock.advance(Math.max(1, Math.ceil(moveBy)));
    }
  }

  /**
   * Replaces the body of the activity `name` (the method `ctx.call` names,
   * or its durable `@Activity({ name })`) of `workflow`, in this app, from
   * the next attempt on: `fn` is called with the activity's arguments (and
   * the workflow instance as `this`), inside its `currentActivity()`
   * context; what it returns or throws is the activity's. Given a name, the
   * workflow's every registered version is mocked.
   * @returns a function that puts the real body back (so does `restoreActivities()`, and the app's close)
   * @throws InvalidOptionsError when the workflow has no such activity; WorkflowNotRegisteredError
   */
  mockActivity<W extends object, K extends ActivityName<W>>(
    workflow: Type<W>,
    name: K,
    fn: ActivityMock<W, K>,
  ): () => void;
  mockActivity(
    workflow: string,
    name: string,
    fn: (...args: never[]) => unknown,
  ): () => void;
  mockActivity(
    workflow: WorkflowRef,
    name: string,
    fn: (...args: never[]) => unknown,
  ): () => void {
    const definitions =
      typeof workflow === 'string'
        ? [...this.registry.versionsOf(workflow)]
        : [this.registry.get(workflow)];
    if (definitions.length === 0) {
      this.registry.get(workflow); // throws WorkflowNotRegisteredError
    }
    return this.mocks.mock(definitions, name, fn);
  }

  /** Puts back the real body of every activity mocked with `mockActivity()`. */
  restoreActivities(): void {
    this.mocks.restoreAll();
  }

  /**
   * Sends a signal, as `client.signal` does (same arguments, same result):
   * a wait that takes it resumes at the next `drain()`.
   */
  signal<P>(
    target: SignalTarget,
    signal: SignalDefinition<P>,
    ...args: SignalArgs<P, SignalOptions>
  ): Promise<SignalResult> {
    return this.client.signal(target, signal, ...args);
  }

  /** @internal Nest's hook: the app closes, waits for events end, mocks are restored. */
  beforeApplicationShutdown(): void {
    this.closed = true;
    this.events.close();
    this.mocks.restoreAll();
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.turn.then(fn);
    this.turn = result.catch(() => undefined);
    return result;
  }

  private assertUsable(operation: string): void {
    if (this.closed) {
      throw new UnderwayClosedError(operation);
    }
    if (!this.worker.initialized) {
      throw new TestKitNotStartedError(operation);
    }
  }

  private async progress(runId: string): Promise<RunProgressRow> {
    if (!isUuid(runId)) {
      return { state: null, own_due_in_ms: null, next_due_in_ms: null };
    }
    const { rows } = await this.executor.query<RunProgressRow>(
      runProgress(this.schema, runId),
    );
    return rows[0]!;
  }
}
