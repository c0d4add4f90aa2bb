// Over 300 lines on purpose: the public client: each method checks its options
// and delegates (to RunAdmin, RunResults, the writer, the schedules'
// repository) in a few lines; most of the file is the API's documentation.
import { Inject, Injectable } from '@nestjs/common';
import { describeValue } from '../errors/describe-value';
import { serializePayload } from '../common/json-payload';
import { isUuid } from '../common/uuid';
import type { SqlExecutor } from '../database/sql-executor';
import { UnderwayDatabase } from '../database/underway-database';
import type {
  RunOutput,
  WorkflowInput,
  WorkflowInputArgs,
} from '../decorators/workflow-io';
import { WorkflowRef, WorkflowRegistry } from '../discovery/workflow.registry';
import { newRunOf } from '../engine/new-run';
import { RegistryPolicies } from '../engine/policy-source';
import { RunAdmin } from '../engine/run-admin';
import { RunRepository } from '../engine/run.repository';
import type { NewRun } from '../engine/sql/admin.sql';
import { TransitionWriter } from '../engine/transition.writer';
import { InvalidInputError } from '../errors/invalid-input.error';
import { RunNotFoundError } from '../errors/run-not-found.error';
import type {
  DeadLetterEntry,
  RunDetails,
  WorkflowVersionInfo,
} from '../model/run-details';
import type { RunState } from '../model/run-state';
import type { ResolvedOptions } from '../options/resolved-options';
import { parseSchedule } from '../common/cron-expression';
import type {
  ScheduleInfo,
  ScheduleOptions,
  UnscheduleOptions,
} from '../schedule/schedule.interface';
import { ScheduleRepository } from '../schedule/schedule.repository';
import { refuseOwnRunLock } from '../execution/attempt-owner';
import { UnderwayBootstrap } from '../underway.bootstrap';
import { UNDERWAY_OPTIONS } from '../underway.constants';
import { RunEvents } from '../events/run-events';
import {
  checkCancelOptions,
  checkDeadLetterOptions,
  checkEnqueueManyOptions,
  checkEnqueueOptions,
  checkQueueName,
  checkWorkflowName,
  checkResultOptions,
  checkRetryOptions,
  checkScheduleOptions,
  checkSignalOptions,
  checkSignalWithStartOptions,
  checkUnscheduleOptions,
} from './call-options';
import { ClientGate } from './client-gate';
import type { DeadLetterOptions } from './dead-letter.interface';
import type {
  CancelOptions,
  EnqueueOptions,
  ResultOptions,
  RetryOptions,
  SignalOptions,
  SignalWithStartOptions,
} from './enqueue-options.interface';

/** Where `client.signal()` sends: a run id, or the run enqueued with an idempotency key. @publicApi */
export type SignalTarget =
  string | { readonly workflow: WorkflowRef; readonly idempotencyKey: string };

/** `client.signal()`'s payload and options: the payload may be left out when the signal's type admits `undefined` (`void`). */
export type SignalArgs<P, O> = undefined extends P
  ? [payload?: P, options?: O]
  : [payload: P, options?: O];
import { RunResults } from './run-results';
import {
  checkSignal,
  sendCheckedSignal,
  SignalResult,
} from '../engine/run-signals';
import type { SignalDefinition } from '../decorators/define-signal';
import { ownOptions } from '../common/options-object';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { RunHandleBackend, WorkflowRun } from './workflow-run';

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
  private readonly gate: ClientGate;
  private readonly admin: RunAdmin;
  private readonly results: RunResults;
  private readonly schedules: ScheduleRepository;
  /** What `WorkflowRun` handles call: the same work, named after the handle's methods. */
  private readonly handles: RunHandleBackend;

  /** @internal Made by Nest's injector; its parameters are the library's own. */
  constructor(
    @Inject(UNDERWAY_OPTIONS) private readonly options: ResolvedOptions,
    private readonly registry: WorkflowRegistry,
    database: UnderwayDatabase,
    events: RunEvents,
    bootstrap: UnderwayBootstrap,
    private readonly writer: TransitionWriter,
  ) {
    this.gate = new ClientGate(database, bootstrap);
    this.admin = new RunAdmin(
      options.schema,
      writer,
      new RegistryPolicies(registry),
    );
    this.results = new RunResults(
      this.gate,
      new RunRepository(options.schema),
      events,
    );
    this.schedules = new ScheduleRepository(options.schema);
    this.handles = {
      status: (runId) => this.results.status('WorkflowRun.status()', runId),
      result: <TOutput>(runId: string, resultOptions?: ResultOptions) =>
        this.awaitResult<TOutput>('WorkflowRun.result()', runId, resultOptions),
      cancel: (runId) =>
        this.cancelRun('WorkflowRun.cancel()', runId, undefined),
    };
  }

  /**
   * Enqueues a run of `workflow` (its class or its name) with `input`, the
   * input of its first step.
   *
   * Types: for a class that declares its types (`extends WorkflowIO<Input,
   * Output>`), `input` must be an `Input` (and may be left out only if it
   * admits `undefined`) and the run's `result()` resolves with an `Output`.
   * Otherwise (a class that declares nothing, or a name) the input is not
   * checked and the output is `unknown`, or `TOutput` when given:
   * `enqueue<Receipt>('order-receipt', input)`.
   *
   * @throws WorkflowNotRegisteredError, InvalidInputError, PayloadTooLargeError, InvalidOptionsError, UnderwayClosedError
   */
  async enqueue<TOutput = never, W extends WorkflowRef = WorkflowRef>(
    workflow: W,
    ...[input, options]: WorkflowInputArgs<W, EnqueueOptions>
  ): Promise<WorkflowRun<RunOutput<TOutput, W>>> {
    const operation = 'WorkflowClient.enqueue()';
    this.gate.assertOpen(operation);
    const definition = this.registry.get(workflow);
    const checked = checkEnqueueOptions(options);
    const run = newRunOf(definition, this.serialize(input), checked);
    const { id } = await this.writer.insertRun(
      await this.gate.executor(operation, checked.manager),
      run,
      { source: 'client' },
    );
    return new WorkflowRun(id, definition.name, this.handles);
  }

  /**
   * Enqueues one run per input, in one statement: all are written, or none.
   * Typed as `enqueue`: each input must be the declared input, if any.
   *
   * @throws the errors of `enqueue`, for the first bad input (nothing is written);
   *   InvalidInputError (path `inputs[i]`) for a hole in a sparse array, or when `inputs` is not an array
   */
  async enqueueMany<TOutput = never, W extends WorkflowRef = WorkflowRef>(
    workflow: W,
    inputs: readonly WorkflowInput<W>[],
    options?: Omit<EnqueueOptions, 'idempotencyKey'>,
  ): Promise<WorkflowRun<RunOutput<TOutput, W>>[]> {
    const operation = 'WorkflowClient.enqueueMany()';
    this.gate.assertOpen(operation);
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
      await this.gate.executor(operation, checked.manager),
      definition.name,
      runs,
      { source: 'client' },
    );
    return ids.map((id) => new WorkflowRun(id, definition.name, this.handles));
  }

  /**
   * A handle on an existing run, without reading it. `workflow` is its
   * workflow's name, or its class (which must be registered here): the
   * handle's `result()` then has the output the class declares
   * (`WorkflowIO`), else `unknown` or `TOutput` when given
   * (`run<Receipt>(id, 'order-receipt')`).
   *
   * @throws UnderwayClosedError; WorkflowNotRegisteredError for a class not registered here
   */
  run<TOutput = never, W extends WorkflowRef = WorkflowRef>(
    runId: string,
    workflow: W,
  ): WorkflowRun<RunOutput<TOutput, W>> {
    this.gate.assertOpen('WorkflowClient.run()');
    const name =
      typeof workflow === 'string'
        ? workflow
        : this.registry.get(workflow).name;
    return new WorkflowRun(runId, name, this.handles);
  }

  /** Everything known about a run, or `null` for an unknown id. */
  async getRun<TOutput = unknown>(
    runId: string,
  ): Promise<RunDetails<TOutput> | null> {
    const operation = 'WorkflowClient.getRun()';
    this.gate.assertOpen(operation);
    return this.admin.getRun<TOutput>(
      await this.gate.executor(operation, undefined),
      runId,
    );
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
    this.gate.assertOpen(operation);
    const checked = checkCancelOptions(options);
    refuseOwnRunLock(checked.manager, runId, 'client.cancel()');
    const previous = await this.admin.cancel(
      await this.gate.executor(operation, checked.manager),
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
    this.gate.assertOpen(operation);
    const checked = checkRetryOptions(options);
    if (!isUuid(runId)) {
      throw new RunNotFoundError(runId);
    }
    refuseOwnRunLock(checked.manager, runId, 'client.retry()');
    const { workflowName } = await this.gate.inTransaction(
      operation,
      checked.manager,
      (executor) => this.admin.retry(executor, runId),
    );
    return new WorkflowRun<TOutput>(runId, workflowName, this.handles);
  }

  /**
   * Sends `signal` (made by `defineSignal`) with `payload` to a run: by id,
   * or `{ workflow, idempotencyKey }` (the run enqueued with that key). The
   * signal is stored durably and buffered: a step waiting for it
   * (`ctx.waitFor`) resumes at once, one that waits later gets it then.
   * Signals of one name are taken in send order, each once. With `manager`
   * it joins your transaction (READ COMMITTED; under REPEATABLE READ or
   * SERIALIZABLE it may fail with a serialization error, to retry): rolled
   * back, nothing was sent. The payload is checked like an input, and
   * against the signal's type at compile time.
   *
   * @returns the run, the signal's id, and whether it was a duplicate (its `idempotencyKey` taken)
   * @throws RunNotFoundError for an unknown run; RunFinishedError for a finished one (nothing stored);
   *   InvalidInputError, PayloadTooLargeError, InvalidOptionsError (nothing stored)
   */
  async signal<P>(
    target: SignalTarget,
    signal: SignalDefinition<P>,
    ...[payload, options]: SignalArgs<P, SignalOptions>
  ): Promise<SignalResult> {
    const operation = 'WorkflowClient.signal()';
    this.gate.assertOpen(operation);
    const checked = checkSignalOptions(options);
    const message = checkSignal(
      signal,
      payload,
      checked.idempotencyKey,
      this.options.maxInputSizeBytes,
    );
    const executor = await this.gate.executor(operation, checked.manager);
    const runId = await this.targetRunId(executor, target);
    refuseOwnRunLock(checked.manager, runId, 'client.signal()');
    return sendCheckedSignal(this.writer, executor, runId, message);
  }

  /**
   * Starts a run of `workflow` with `input` unless one with
   * `options.idempotencyKey` exists, and sends it `signal` either way, in
   * one transaction (yours with `manager`): the first event of a
   * conversation can create it without a race.
   *
   * @returns the run, whether this call started it, and the signal's id
   * @throws RunFinishedError when the run with that key has finished (nothing stored);
   *   the errors of `enqueue` and `signal`
   */
  async signalWithStart<
    P,
    TOutput = never,
    W extends WorkflowRef = WorkflowRef,
  >(
    workflow: W,
    input: WorkflowInput<W>,
    signal: SignalDefinition<P>,
    payload: P,
    options: SignalWithStartOptions,
  ): Promise<{
    run: WorkflowRun<RunOutput<TOutput, W>>;
    started: boolean;
    signalId: string;
    duplicate: boolean;
  }> {
    const operation = 'WorkflowClient.signalWithStart()';
    this.gate.assertOpen(operation);
    const definition = this.registry.get(workflow);
    const checked = checkSignalWithStartOptions(options);
    const run = newRunOf(definition, this.serialize(input), checked.enqueue);
    const message = checkSignal(
      signal,
      payload,
      checked.signalIdempotencyKey,
      this.options.maxInputSizeBytes,
    );
    return this.gate.inTransaction(
      operation,
      checked.enqueue.manager,
      async (executor) => {
        const { id, created } = await this.writer.insertRun(executor, run, {
          source: 'client',
        });
        const sent = await sendCheckedSignal(
          this.writer,
          executor,
          id,
          message,
        );
        return {
          run: new WorkflowRun(id, definition.name, this.handles),
          started: created,
          signalId: sent.signalId,
          duplicate: sent.duplicate,
        };
      },
    );
  }

  /** The run a signal goes to. @throws RunNotFoundError, InvalidOptionsError */
  private async targetRunId(
    executor: SqlExecutor,
    target: unknown,
  ): Promise<string> {
    if (typeof target === 'string') {
      return target;
    }
    if (typeof target !== 'object' || target === null) {
      throw new InvalidOptionsError(
        'target',
        'must be a run id, or { workflow, idempotencyKey } naming the run enqueued with that key',
      );
    }
    const { workflow, idempotencyKey } = ownOptions(
      target,
      ['workflow', 'idempotencyKey'],
      'a signal target',
    );
    const name =
      typeof workflow === 'string'
        ? checkWorkflowName(workflow)
        : this.registry.get(workflow as WorkflowRef).name;
    const key = checkSignalOptions({ idempotencyKey }).idempotencyKey;
    if (key === null) {
      throw new InvalidOptionsError(
        'target.idempotencyKey',
        'is required with target.workflow',
      );
    }
    const runId = await new RunRepository(this.options.schema).findIdByKey(
      executor,
      name,
      key,
    );
    if (runId === undefined) {
      throw new RunNotFoundError(
        `of workflow "${name}" with idempotency key "${key}"`,
      );
    }
    return runId;
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
    this.gate.assertOpen(operation);
    const name = checkQueueName(queue);
    const checked = checkDeadLetterOptions(options, 'redrive');
    const { entries } = await this.gate.inTransaction(
      operation,
      checked.manager,
      (executor) => this.admin.redrive(executor, name, checked),
    );
    return entries.map(
      (entry) =>
        new WorkflowRun<TOutput>(
          entry.newRunId,
          entry.workflowName,
          this.handles,
        ),
    );
  }

  /**
   * Creates or replaces the schedule `options.key` (default `'default'`) of
   * `workflow`: a run with `input` at every tick of `schedule` (5- or 6-field
   * cron or a macro, with an optional `[Zone]`: `'0 2 * * *[Europe/Paris]'`;
   * `H` fields drawn from the workflow name and `key`), each tick fired exactly
   * once across instances. With `manager`, it joins your transaction: rolled
   * back, nothing changed. `input` is checked against the workflow's declared
   * input (`WorkflowIO`), as `enqueue`'s is.
   *
   * @throws WorkflowNotRegisteredError, InvalidScheduleError, InvalidInputError, PayloadTooLargeError, InvalidOptionsError
   */
  async schedule<W extends WorkflowRef>(
    workflow: W,
    schedule: string,
    input: WorkflowInput<W>,
    options?: ScheduleOptions,
  ): Promise<ScheduleInfo> {
    const operation = 'WorkflowClient.schedule()';
    this.gate.assertOpen(operation);
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
    return this.gate.inTransaction(operation, checked.manager, upsert);
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
    this.gate.assertOpen(operation);
    const definition = this.registry.get(workflow);
    const checked = checkUnscheduleOptions(options);
    return this.schedules.delete(
      await this.gate.executor(operation, checked.manager),
      definition.name,
      checked.key,
    );
  }

  /** The schedules of `workflow`, or of every workflow, by workflow and key. */
  async listSchedules(workflow?: WorkflowRef): Promise<ScheduleInfo[]> {
    const operation = 'WorkflowClient.listSchedules()';
    this.gate.assertOpen(operation);
    const name =
      workflow === undefined ? null : this.registry.get(workflow).name;
    return this.schedules.list(
      await this.gate.executor(operation, undefined),
      name,
    );
  }

  /**
   * The versions of `workflow` (a class or a name; a name need not be
   * registered here), or of every workflow: each version registered here or
   * with unfinished runs, with its count of unfinished runs. A class of an
   * old version can be deleted once no run of its version is in flight.
   */
  async listVersions(workflow?: WorkflowRef): Promise<WorkflowVersionInfo[]> {
    const operation = 'WorkflowClient.listVersions()';
    this.gate.assertOpen(operation);
    const name =
      workflow === undefined
        ? null
        : typeof workflow === 'string'
          ? checkWorkflowName(workflow)
          : this.registry.get(workflow).name;
    return this.admin.listVersions(
      await this.gate.executor(operation, undefined),
      name,
    );
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
    this.gate.assertOpen(operation);
    const name = checkQueueName(queue);
    const checked = checkDeadLetterOptions(options, 'getDeadLetters');
    return this.admin.deadLetters(
      await this.gate.executor(operation, checked.manager),
      name,
      checked,
    );
  }

  /** @throws RunNotFoundError, UnderwayClosedError */
  async status(runId: string): Promise<RunState> {
    return this.results.status('WorkflowClient.status()', runId);
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

  private awaitResult<TOutput>(
    operation: string,
    runId: string,
    options: unknown,
  ): Promise<TOutput> {
    this.gate.assertOpen(operation);
    const { timeoutMs } = checkResultOptions(options);
    return this.results.result<TOutput>(operation, runId, timeoutMs);
  }

  private serialize(input: unknown, root?: string): string | null {
    return serializePayload(
      input,
      this.options.maxInputSizeBytes,
      'input',
      root,
    );
  }
}
