import { ActivityCallRepository } from '../activity/activity-call.repository';
import { toActivityCallDetails } from '../activity/activity-call-details';
import { Inject, Injectable } from '@nestjs/common';
import { describeValue } from '../common/describe-value';
import { deserializePayload, serializePayload } from '../common/json-payload';
import { isUuid } from '../common/uuid';
import {
  EntityManagerExecutor,
  PoolExecutor,
  SqlExecutor,
  withTransaction,
} from '../database/sql-executor';
import { UnderwayDatabase } from '../database/underway-database';
import { WorkflowRef, WorkflowRegistry } from '../discovery/workflow.registry';
import { InvalidInputError } from '../errors/invalid-input.error';
import { ResultTimeoutError } from '../errors/result-timeout.error';
import { RunNotFoundError } from '../errors/run-not-found.error';
import { UnderwayClosedError } from '../errors/underway-closed.error';
import { WorkflowRunFailedError } from '../errors/workflow-run-failed.error';
import type { ResolvedOptions } from '../options/resolved-options';
import { TransitionWriter } from '../engine/transition.writer';
import { UnderwayBootstrap } from '../underway.bootstrap';
import { UNDERWAY_OPTIONS } from '../underway.module-definition';
import { RunEvents } from '../workflow/run-events';
import type { RunState } from '../workflow/run-state';
import { parseSchedule } from '../schedule/schedule-expression';
import type {
  ScheduleInfo,
  ScheduleOptions,
  UnscheduleOptions,
} from '../schedule/schedule.interface';
import { ScheduleRepository } from '../schedule/schedule.repository';
import { newRunOf } from '../workflow/new-run';
import { RunRepository } from '../workflow/run.repository';
import { retryRun } from '../workflow/run-retry';
import type { NewRun } from '../engine/sql/admin.sql';
import { refuseOwnRunLock } from '../transaction/attempt-owner';
import {
  checkCancelOptions,
  checkDeadLetterOptions,
  checkEnqueueManyOptions,
  checkEnqueueOptions,
  checkQueueName,
  checkResultOptions,
  checkRetryOptions,
  checkScheduleOptions,
  checkUnscheduleOptions,
} from './call-options';
import type {
  DeadLetterEntry,
  DeadLetterOptions,
} from './dead-letter.interface';
import type {
  CancelOptions,
  EnqueueOptions,
  ResultOptions,
  RetryOptions,
} from './enqueue-options.interface';
import type { AttemptDetails, RunDetails } from './run-details.interface';
import { RunHandleBackend, WorkflowRun } from './workflow-run';

const RESULT_POLL_MAX_MS = 1_000;

/**
 * Enqueues and inspects workflow runs. Inject it anywhere:
 *
 * ```ts
 * await dataSource.transaction((manager) =>
 *   client.enqueue(SignupWorkflow, { userId }, { manager }));
 * ```
 *
 * Every call checks its arguments and options before it writes anything: an
 * unknown option key, options that are not a plain object, or a value out of
 * its bounds (README "Limits") is an `InvalidOptionsError` naming it.
 *
 * Once its application has closed, every call (and every call of a
 * `WorkflowRun` handle) rejects with `UnderwayClosedError`, `{ manager }`
 * calls included, and a `result()` still waiting rejects with it at once.
 *
 * @publicApi
 */
@Injectable()
export class WorkflowClient {
  private readonly runs: RunRepository;
  private readonly calls: ActivityCallRepository;
  private readonly schedules: ScheduleRepository;
  /** What `WorkflowRun` handles call: the same work, named after the handle's methods. */
  private readonly handles: RunHandleBackend;
  /** The `result()` waits in progress, woken at once when Underway closes. */
  private readonly waits = new Set<() => void>();

  /** @internal Made by Nest's injector; its parameters are the library's own. */
  constructor(
    @Inject(UNDERWAY_OPTIONS) private readonly options: ResolvedOptions,
    private readonly registry: WorkflowRegistry,
    private readonly database: UnderwayDatabase,
    private readonly events: RunEvents,
    private readonly bootstrap: UnderwayBootstrap,
    private readonly writer: TransitionWriter,
  ) {
    this.runs = new RunRepository(options.schema);
    this.calls = new ActivityCallRepository(options.schema);
    this.schedules = new ScheduleRepository(options.schema);
    this.handles = {
      status: (runId) => this.readStatus('WorkflowRun.status()', runId),
      result: <TOutput>(runId: string, resultOptions?: ResultOptions) =>
        this.awaitResult<TOutput>('WorkflowRun.result()', runId, resultOptions),
      cancel: (runId) =>
        this.cancelRun('WorkflowRun.cancel()', runId, undefined),
    };
    database.closedSignal.addEventListener(
      'abort',
      () => {
        for (const wake of [...this.waits]) {
          wake();
        }
      },
      { once: true },
    );
  }

  /**
   * Enqueues a run of `workflow` (its class or its name) with `input`, the
   * input of its first step.
   *
   * @throws WorkflowNotRegisteredError, InvalidInputError, PayloadTooLargeError, InvalidOptionsError, UnderwayClosedError
   */
  async enqueue<TOutput = unknown>(
    workflow: WorkflowRef,
    input?: unknown,
    options?: EnqueueOptions,
  ): Promise<WorkflowRun<TOutput>> {
    const operation = 'WorkflowClient.enqueue()';
    this.assertOpen(operation);
    const definition = this.registry.get(workflow);
    const checked = checkEnqueueOptions(options);
    const run = newRunOf(definition, this.serialize(input), checked);
    const { id } = await this.writer.insertRun(
      await this.executor(operation, checked),
      run,
      { source: 'client' },
    );
    return new WorkflowRun<TOutput>(id, definition.name, this.handles);
  }

  /**
   * Enqueues one run per input, in one statement: all are written, or none.
   *
   * @throws the errors of `enqueue`, for the first bad input (nothing is written);
   *   InvalidInputError (path `inputs[i]`) for a hole in a sparse array, or when `inputs` is not an array
   */
  async enqueueMany<TOutput = unknown>(
    workflow: WorkflowRef,
    inputs: readonly unknown[],
    options?: Omit<EnqueueOptions, 'idempotencyKey'>,
  ): Promise<WorkflowRun<TOutput>[]> {
    const operation = 'WorkflowClient.enqueueMany()';
    this.assertOpen(operation);
    const definition = this.registry.get(workflow);
    const checked = checkEnqueueManyOptions(options);
    if (!Array.isArray(inputs)) {
      throw new InvalidInputError(
        'inputs',
        `an array of inputs is expected, got ${describeValue(inputs)}`,
      );
    }
    const runs: NewRun[] = [];
    for (let index = 0; index < inputs.length; index++) {
      if (!(index in inputs)) {
        throw new InvalidInputError(
          `inputs[${index}]`,
          'a hole in a sparse array is not allowed (pass undefined for a run without input)',
        );
      }
      runs.push(
        newRunOf(
          definition,
          // Paths name the input: `inputs[1].orderId`.
          this.serialize(inputs[index], `inputs[${index}]`),
          checked,
        ),
      );
    }
    if (runs.length === 0) {
      return [];
    }
    const ids = await this.writer.insertRuns(
      await this.executor(operation, checked),
      definition.name,
      runs,
      { source: 'client' },
    );
    return ids.map(
      (id) => new WorkflowRun<TOutput>(id, definition.name, this.handles),
    );
  }

  /** A handle on an existing run, without reading it. @throws UnderwayClosedError */
  run<TOutput = unknown>(
    runId: string,
    workflowName: string,
  ): WorkflowRun<TOutput> {
    this.assertOpen('WorkflowClient.run()');
    return new WorkflowRun<TOutput>(runId, workflowName, this.handles);
  }

  /** Everything known about a run, or `null` for an unknown id. */
  async getRun<TOutput = unknown>(
    runId: string,
  ): Promise<RunDetails<TOutput> | null> {
    const operation = 'WorkflowClient.getRun()';
    this.assertOpen(operation);
    if (!isUuid(runId)) {
      return null;
    }
    const executor = await this.executor(operation, {});
    const row = await this.runs.find(executor, runId);
    if (!row) {
      return null;
    }
    const [attemptRows, callRows] = await Promise.all([
      this.runs.attempts(executor, runId),
      this.calls.ofRun(executor, runId),
    ]);
    const definition = this.registry.find(row.workflow_name);
    const stepName = (index: number): string | undefined =>
      definition?.steps[index]?.method;
    const attempts: AttemptDetails[] = attemptRows.map((a) => ({
      stepIndex: a.step_index,
      stepName: stepName(a.step_index),
      attempt: a.attempt,
      state: a.state as AttemptDetails['state'],
      error: a.error ?? undefined,
      worker: a.worker ?? undefined,
      startedAt: a.started_at ?? undefined,
      completedAt: a.completed_at,
    }));
    return {
      id: row.id,
      workflowName: row.workflow_name,
      state: row.state as RunState,
      currentStep: { index: row.step_index, name: stepName(row.step_index) },
      stepCount: definition?.steps.length,
      input: deserializePayload(row.input),
      output: deserializePayload<TOutput>(row.output),
      error: row.error ?? undefined,
      attempt: row.attempt,
      maxAttempts: row.max_attempts,
      priority: row.priority,
      runAt: row.run_at ?? undefined,
      idempotencyKey: row.idempotency_key ?? undefined,
      attempts,
      activityCalls: callRows.map(toActivityCallDetails),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      startedAt: row.started_at ?? undefined,
      completedAt: row.completed_at ?? undefined,
    };
  }

  /**
   * Cancels a run that has not finished. A pending or waiting run stops at
   * once; a running step sees `ctx.signal` abort (reason: `StepAbortedError`
   * with code `run_cancelled`) and its outcome is discarded. The run ends
   * `cancelled` and frees its concurrency key.
   *
   * @returns `true` if this call cancelled the run, `false` if it had already finished
   */
  async cancel(runId: string, options?: CancelOptions): Promise<boolean> {
    return this.cancelRun('WorkflowClient.cancel()', runId, options);
  }

  private async cancelRun(
    operation: string,
    runId: string,
    options: unknown,
  ): Promise<boolean> {
    this.assertOpen(operation);
    const checked = checkCancelOptions(options);
    if (!isUuid(runId)) {
      return false;
    }
    refuseOwnRunLock(checked.manager, runId, 'client.cancel()');
    const previous = await this.writer.cancel(
      await this.executor(operation, checked),
      runId,
    );
    return previous !== undefined;
  }

  /**
   * Retries a `failed` run in place (same id): it gets a fresh attempt budget
   * at the step that failed, whose failed `ctx.call`s run again first;
   * finished steps are not repeated. Its dead-letter entry, if any, is
   * removed. With `manager`, it joins your transaction.
   *
   * @returns a handle on the run
   * @throws RunNotFoundError for an unknown run
   * @throws RunNotRetryableError for a run that is not failed, or whose dead-letter entry was redriven
   * @throws WorkflowNotRegisteredError if its workflow is not registered here (nothing is changed)
   */
  async retry<TOutput = unknown>(
    runId: string,
    options?: RetryOptions,
  ): Promise<WorkflowRun<TOutput>> {
    const operation = 'WorkflowClient.retry()';
    this.assertOpen(operation);
    const checked = checkRetryOptions(options);
    if (!isUuid(runId)) {
      throw new RunNotFoundError(runId);
    }
    refuseOwnRunLock(checked.manager, runId, 'client.retry()');
    const retry = (executor: SqlExecutor) =>
      retryRun(executor, this.options.schema, this.registry, runId);
    await this.ready(operation);
    const { workflowName } = checked.manager
      ? await retry(
          this.refuseOnceClosed(
            operation,
            new EntityManagerExecutor(checked.manager),
          ),
        )
      : await withTransaction(this.database.pool, (executor) =>
          retry(this.refuseOnceClosed(operation, executor)),
        );
    return new WorkflowRun<TOutput>(runId, workflowName, this.handles);
  }

  /**
   * Enqueues again runs recorded in the dead-letter queue `queue`: each becomes
   * a new run of its workflow with the same input, and its entry is marked
   * redriven, in one transaction (yours with `manager`).
   *
   * @returns the new runs, oldest failure first
   * @throws WorkflowNotRegisteredError if an entry's workflow is not registered here (nothing is redriven)
   * @throws InvalidOptionsError for a bad queue name or option (nothing is redriven)
   */
  async redrive<TOutput = unknown>(
    queue: string,
    options?: DeadLetterOptions,
  ): Promise<WorkflowRun<TOutput>[]> {
    const operation = 'WorkflowClient.redrive()';
    this.assertOpen(operation);
    const name = checkQueueName(queue);
    const checked = checkDeadLetterOptions(options, 'redrive');
    const query = { ...checked, forRedrive: true };
    const redrive = async (
      executor: SqlExecutor,
    ): Promise<WorkflowRun<TOutput>[]> => {
      const entries = await this.runs.deadLetters(executor, name, query);
      if (entries.length === 0) {
        return [];
      }
      const runs = entries.map((entry) =>
        newRunOf(this.registry.get(entry.workflow_name), entry.input),
      );
      // One insert per workflow (usually one): each is one enqueue to the
      // interceptors and the events.
      const ids = new Map<NewRun, string>();
      for (const [workflowName, ofWorkflow] of groupBy(
        runs,
        (run) => run.workflowName,
      )) {
        const inserted = await this.writer.insertRuns(
          executor,
          workflowName,
          ofWorkflow,
          { source: 'redrive', queue: name },
        );
        ofWorkflow.forEach((run, i) => ids.set(run, inserted[i] as string));
      }
      await this.runs.markRedriven(
        executor,
        entries.map((entry, i) => ({
          id: entry.id,
          runId: ids.get(runs[i] as NewRun) as string,
        })),
      );
      return runs.map(
        (run) =>
          new WorkflowRun<TOutput>(
            ids.get(run) as string,
            run.workflowName,
            this.handles,
          ),
      );
    };
    await this.ready(operation);
    const manager = checked.manager;
    return manager
      ? redrive(
          this.refuseOnceClosed(operation, new EntityManagerExecutor(manager)),
        )
      : withTransaction(this.database.pool, (executor) =>
          redrive(this.refuseOnceClosed(operation, executor)),
        );
  }

  /**
   * Creates or replaces the schedule `options.key` (default `'default'`) of
   * `workflow`: a run with `input` at every tick of `schedule` (5- or 6-field
   * cron or a macro, with an optional `[Zone]`: `'0 2 * * *[Europe/Paris]'`;
   * `H` fields drawn from the workflow name and `key`), each tick fired exactly
   * once across instances. With `manager`, it joins your transaction: rolled
   * back, nothing changed.
   *
   * @throws WorkflowNotRegisteredError, InvalidScheduleError, InvalidInputError, PayloadTooLargeError, InvalidOptionsError
   */
  async schedule(
    workflow: WorkflowRef,
    schedule: string,
    input: unknown,
    options?: ScheduleOptions,
  ): Promise<ScheduleInfo> {
    const operation = 'WorkflowClient.schedule()';
    this.assertOpen(operation);
    const definition = this.registry.get(workflow);
    const checked = checkScheduleOptions(options);
    const expression = parseSchedule(schedule, {
      workflowName: definition.name,
      key: checked.key,
    });
    const json = this.serialize(input);
    const upsert = (executor: SqlExecutor): Promise<ScheduleInfo> =>
      this.schedules.upsert(executor, {
        workflowName: definition.name,
        key: checked.key,
        expression,
        input: json,
        overlap: checked.overlap,
        source: 'client',
      });
    await this.ready(operation);
    return checked.manager
      ? upsert(await this.executor(operation, checked))
      : withTransaction(this.database.pool, (executor) =>
          upsert(this.refuseOnceClosed(operation, executor)),
        );
  }

  /**
   * Removes the schedule `options.key` (default `'default'`) of `workflow`.
   * @returns whether there was one
   */
  async unschedule(
    workflow: WorkflowRef,
    options?: UnscheduleOptions,
  ): Promise<boolean> {
    const operation = 'WorkflowClient.unschedule()';
    this.assertOpen(operation);
    const definition = this.registry.get(workflow);
    const checked = checkUnscheduleOptions(options);
    return this.schedules.delete(
      await this.executor(operation, checked),
      definition.name,
      checked.key,
    );
  }

  /** The schedules of `workflow`, or of every workflow, by workflow and key. */
  async listSchedules(workflow?: WorkflowRef): Promise<ScheduleInfo[]> {
    const operation = 'WorkflowClient.listSchedules()';
    this.assertOpen(operation);
    const name =
      workflow === undefined ? null : this.registry.get(workflow).name;
    return this.schedules.list(await this.executor(operation, {}), name);
  }

  /**
   * The entries of a dead-letter queue, oldest first (redriven ones included).
   *
   * @throws InvalidOptionsError for a bad queue name or option
   */
  async getDeadLetters(
    queue: string,
    options?: DeadLetterOptions,
  ): Promise<DeadLetterEntry[]> {
    const operation = 'WorkflowClient.getDeadLetters()';
    this.assertOpen(operation);
    const name = checkQueueName(queue);
    const checked = checkDeadLetterOptions(options, 'getDeadLetters');
    const rows = await this.runs.deadLetters(
      await this.executor(operation, checked),
      name,
      { ...checked, forRedrive: false },
    );
    return rows.map((row) => ({
      queue: row.queue,
      runId: row.run_id,
      workflowName: row.workflow_name,
      input: deserializePayload(row.input),
      error: row.error ?? undefined,
      failedAt: row.failed_at,
      redrivenAt: row.redriven_at ?? undefined,
      redrivenRunId: row.redriven_run_id ?? undefined,
    }));
  }

  /** @throws RunNotFoundError, UnderwayClosedError */
  async status(runId: string): Promise<RunState> {
    return this.readStatus('WorkflowClient.status()', runId);
  }

  private async readStatus(
    operation: string,
    runId: string,
  ): Promise<RunState> {
    this.assertOpen(operation);
    const row = isUuid(runId)
      ? await this.runs.status(await this.executor(operation, {}), runId)
      : undefined;
    if (!row) {
      throw new RunNotFoundError(runId);
    }
    return row.state as RunState;
  }

  /**
   * Waits for a run to finish: resolves at once when this process's worker
   * finishes it, otherwise polls with a backoff up to 1 s. Rejects at once
   * with `UnderwayClosedError` when Underway closes meanwhile.
   */
  async result<TOutput>(
    runId: string,
    options?: ResultOptions,
  ): Promise<TOutput> {
    return this.awaitResult<TOutput>('WorkflowClient.result()', runId, options);
  }

  private async awaitResult<TOutput>(
    operation: string,
    runId: string,
    options: unknown,
  ): Promise<TOutput> {
    this.assertOpen(operation);
    // At most MAX_STORED_DURATION_MS (parseDuration's bound): the deadline stays finite.
    const { timeoutMs } = checkResultOptions(options);
    const deadline = Date.now() + timeoutMs;
    // Refuses each poll once Underway has closed.
    const executor = await this.executor(operation, {});
    let pollMs = 10;
    for (;;) {
      const row = isUuid(runId)
        ? await this.runs.status(executor, runId)
        : undefined;
      if (!row) {
        throw new RunNotFoundError(runId);
      }
      if (row.state === 'succeeded') {
        return deserializePayload<TOutput>(row.output);
      }
      if (row.state === 'failed' || row.state === 'cancelled') {
        throw new WorkflowRunFailedError(
          runId,
          row.state,
          row.error?.code,
          row.error?.message,
        );
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new ResultTimeoutError(runId, timeoutMs);
      }
      // Checked again just before waiting: close() wakes the waits it finds.
      this.assertOpen(operation);
      await this.waitForFinish(runId, Math.min(pollMs, remaining));
      pollMs = Math.min(pollMs * 2, RESULT_POLL_MAX_MS);
    }
  }

  private waitForFinish(runId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        unsubscribe();
        this.waits.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      const unsubscribe = this.events.onFinished(runId, done);
      this.waits.add(done);
    });
  }

  private serialize(input: unknown, root?: string): string | null {
    return serializePayload(
      input,
      this.options.maxInputSizeBytes,
      'input',
      root,
    );
  }

  /**
   * Waits for the schema to be ready (after a boot with the database down);
   * the executor refuses every statement once Underway has closed.
   */
  private async executor(
    operation: string,
    options: { manager?: EnqueueOptions['manager'] | undefined },
  ): Promise<SqlExecutor> {
    await this.ready(operation);
    return this.refuseOnceClosed(
      operation,
      options.manager
        ? new EntityManagerExecutor(options.manager)
        : new PoolExecutor(this.database.pool),
    );
  }

  /** @throws UnderwayClosedError when Underway closed while waiting (or before) */
  private async ready(operation: string): Promise<void> {
    try {
      await this.bootstrap.whenReady();
    } catch (err) {
      // Closing during a boot with the database down ends the wait with the
      // error of the boot it aborted: say what happened, keeping that as the cause.
      this.assertOpen(operation, err);
      throw err;
    }
    this.assertOpen(operation);
  }

  /**
   * A call under way when Underway closes (a `getRun()` between its two
   * statements, a `result()` between two polls) gets the typed error, not
   * pg's "Cannot use a pool after calling end on the pool".
   */
  private refuseOnceClosed(
    operation: string,
    executor: SqlExecutor,
  ): SqlExecutor {
    return {
      query: async (query) => {
        this.assertOpen(operation);
        return executor.query(query);
      },
      afterCommit: (fn) => executor.afterCommit(fn),
    };
  }

  /** @throws UnderwayClosedError once Underway has closed (the application shut down) */
  private assertOpen(operation: string, cause?: unknown): void {
    if (this.database.isClosed) {
      throw new UnderwayClosedError(
        operation,
        cause === undefined ? undefined : { cause },
      );
    }
  }
}

/** `items` by `key`, each group in input order. */
function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) {
      group.push(item);
    } else {
      groups.set(k, [item]);
    }
  }
  return groups;
}
