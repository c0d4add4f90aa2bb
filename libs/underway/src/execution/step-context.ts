import type { EntityManager } from 'typeorm';
import type { NotInferred } from '../model/not-inferred';
import type { ChildSource, StepJournal } from './step-journal';
import type { Duration } from '../common/duration';
import type { SignalDefinition } from '../decorators/define-signal';
import type { RunOutput, WorkflowInputArgs } from '../decorators/workflow-io';
import type { WorkflowRef } from '../discovery/workflow.registry';
import { ChildOptions, startChild } from './step-children';
import {
  AnySignal,
  sleep,
  waitFor,
  waitForAny,
  WaitOptions,
} from './step-waits';
import type { WorkflowDefinition } from '../discovery/workflow-definition';
import type { ClaimedStep } from '../model/claim';
import type { StepAbort } from './step-abort';

declare const untyped: unique symbol;

/**
 * What `StepContext` stands for without a workflow class: `call` and `emit`
 * then take any name and arguments. (A check of `W` against `unknown` would
 * compare every member of `W`, and a step's type may depend on its calls.)
 */
export interface UntypedWorkflow {
  readonly [untyped]: true;
}

/**
 * The names `ctx.call` and `ctx.emit` accept: the members of `W` (a member
 * that is not a method takes no argument list, so naming it does not
 * compile). Only the named member's type is read, never the others': a step
 * whose return type depends on a call's result (`Transition.next({ email })`)
 * would otherwise make its own type circular.
 */
export type ActivityName<W> = W extends UntypedWorkflow
  ? string
  : keyof W & string;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the widest function type, to extract from
type AnyMethod = (...args: any) => any;

/** `W[K]` when it is a method (`never` otherwise). */
type MethodOf<W, K extends keyof W> = Extract<W[K], AnyMethod>;

/** The parameters of `W[K]`. */
export type ActivityArgs<W, K> = W extends UntypedWorkflow
  ? unknown[]
  : K extends keyof W
    ? Parameters<MethodOf<W, K>>
    : never;

/** What `W[K]` resolves to (`Promise<T>` → `T`). */
export type ActivityResult<W, K> = W extends UntypedWorkflow
  ? unknown
  : K extends keyof W
    ? Awaited<ReturnType<MethodOf<W, K>>>
    : never;

/**
 * What a step receives besides its input. Give it the workflow class,
 * `StepContext<MyWorkflow>`, and `call` and `emit` are checked against its
 * methods at compile time: a misspelled name or a wrong argument is an error,
 * and the result type is the method's.
 *
 * ```ts
 * @Step()
 * async charge(input: Charge, ctx: StepContext<CheckoutWorkflow>) {
 *   const receipt = await ctx.call('chargeCard', input.orderId, input.cents); // typed
 *   await ctx.emit('trackCharge', input.orderId);
 *   return Transition.next({ receipt });
 * }
 * ```
 *
 * A class only so that a plain `import { StepContext }` can type a decorated
 * method's parameter under `isolatedModules` with `emitDecoratorMetadata`
 * (the defaults of `nest new`), where an interface would need `import type`
 * (TS1272). Use it as a type: the library hands each step a context of this
 * shape (a frozen object, not an instance: `instanceof` does not apply).
 *
 * @publicApi
 */
export abstract class StepContext<W = UntypedWorkflow> {
  abstract readonly runId: string;
  abstract readonly workflowName: string;
  /** The run's workflow version (`@Workflow({ version })`), which it keeps for life. */
  abstract readonly workflowVersion: number;
  /** The durable name of this step (`@Step({ name })`, default the method name). */
  abstract readonly stepName: string;
  /**
   * 0-based ordinal of this step in the run: 0 for the first step it entered,
   * then one more for each `Transition.next`. While the steps are unchanged,
   * the step's position in the class.
   */
  abstract readonly stepIndex: number;
  /** How many steps this run's version has. */
  abstract readonly stepCount: number;
  /**
   * 1 on the first attempt of this step. A replay after a suspension on
   * `ctx.call` keeps it: a suspension is not a failed attempt.
   */
  abstract readonly attempt: number;
  abstract readonly maxAttempts: number;
  /**
   * Aborts when the attempt times out, the worker loses its lease, the run is
   * cancelled, the process shuts down, or the step is suspended on a call;
   * `signal.reason` tells which (`StepTimeoutError`, `StepAbortedError`).
   * Pass it to I/O that accepts one.
   */
  abstract readonly signal: AbortSignal;
  /**
   * In a `@Step({ transactional: true })`: a TypeORM `EntityManager` in a
   * transaction on the app's DataSource, which the step's outcome commits
   * (its writes and the next step appear together, or neither does).
   * `undefined` in other steps. Using it (or a repository, query runner or
   * query builder reached through it) after the step returned throws
   * `TransactionClosedError`. The transaction is Underway's to end: a
   * `COMMIT`, `ROLLBACK`, `BEGIN`… sent through it, or its query runner's
   * `commitTransaction()`, `rollbackTransaction()` or `release()`, is
   * refused with `TransactionControlError` (savepoints and a nested
   * `manager.transaction()` are fine).
   */
  abstract readonly manager: EntityManager | undefined;
  /**
   * Calls the `@Activity()` method `method` of this workflow, durably. The
   * first time, the call is recorded and the step suspends (the run waits,
   * no worker slot or connection is held, no attempt is used); the activity
   * runs as its own task, with its own retries and lease; then the step runs
   * again from the top and this call returns the stored result at once.
   * Calls made together (`Promise.all`) run in parallel and resume once.
   * Await it before the step returns: a call made after the step ended, or
   * from inside an activity, rejects and records nothing.
   *
   * @throws ActivityFailedError when the activity failed for good
   * @throws CallOutsideStepError when made after the step ended (a timer, an
   *   un-awaited promise) or from inside an activity; `ctx.signal.reason`
   *   when made after the attempt was aborted
   */
  abstract call<K extends ActivityName<W>>(
    method: K,
    ...args: ActivityArgs<W, K>
  ): Promise<NotInferred<ActivityResult<W, K>>>;
  /**
   * Starts the `@Activity()` method `method` without waiting for it: resolves
   * at once. The intent is written with the step's outcome (never if the
   * attempt fails), and the activity runs once, retried per its policy; its
   * failure does not fail the run. A replay does not emit again.
   *
   * @throws CallOutsideStepError when made after the step ended (a timer, an
   *   un-awaited promise) or from inside an activity; `ctx.signal.reason`
   *   when made after the attempt was aborted
   */
  abstract emit<K extends ActivityName<W>>(
    method: K,
    ...args: ActivityArgs<W, K>
  ): Promise<void>;
  /**
   * Waits for the signal `signal` (made by `defineSignal`) sent to this run
   * with `client.signal`, durably: the first time, the wait is recorded and
   * the step suspends (the run is `waiting`, holds no worker slot or
   * connection, uses no attempt); once the signal arrives, or was sent before
   * (signals are buffered), the step runs again from the top and this wait
   * returns its payload at once. Signals of one name are taken in the order
   * they were sent, each by one wait.
   *
   * @returns the payload (`undefined` for a signal without one), or `null`
   *   once `timeout` passed, counted from when the wait was first reached
   * @throws CallOutsideStepError when made after the step ended or from an activity
   */
  abstract waitFor<P>(
    signal: SignalDefinition<P>,
    options?: WaitOptions,
  ): Promise<P | null>;
  /**
   * Waits for whichever of `signals` arrives first (or was sent first), as
   * `waitFor` does for one: `ctx.waitForAny({ approved: Approval, rejected:
   * Rejection }, { timeout: '3d' })`.
   *
   * @returns `{ name, payload }`, `name` being the signal's key in `signals`
   *   (`'approved'`), or `null` once `timeout` passed
   */
  abstract waitForAny<M extends Record<string, SignalDefinition<unknown>>>(
    signals: M,
    options?: WaitOptions,
  ): Promise<AnySignal<M> | null>;
  /**
   * Sleeps for `duration` (`'3d'`, `'10m'`, or ms), durably: the step
   * suspends (no worker slot, no connection) and runs again from the top
   * once the time has passed, counted from when the sleep was first reached;
   * then this sleep returns at once. A restart or a deploy meanwhile changes
   * nothing.
   */
  abstract sleep(duration: Duration): Promise<void>;
  /**
   * Runs `workflow` as a child of this run, durably, and waits for it: the
   * first time, the child is enqueued with the step's suspension (one
   * statement for every child started together, `Promise.all`) and the step
   * suspends (the parent holds no worker slot while it waits); once the
   * child ends, the step runs again from the top and this call returns the
   * child's output at once (typed from the child's `WorkflowIO`). A replay
   * never enqueues the child again. The child's workflow must be registered
   * in this app.
   *
   * @throws ChildWorkflowFailedError when the child failed or was cancelled
   *   (uncaught, it fails this run)
   * @throws ConcurrencyDeadlockError when `concurrencyKey` is the key this run holds (nothing enqueued)
   */
  abstract child<C extends WorkflowRef>(
    workflow: C,
    ...args: WorkflowInputArgs<C, ChildOptions>
  ): Promise<RunOutput<never, C>>;
  /**
   * Starts `workflow` as a child of this run without waiting for it: it is
   * enqueued with the step's outcome (never if the attempt fails), once, and
   * this resolves at once with its run id. It ends with its parent per
   * `parentClose`.
   */
  abstract startChild<C extends WorkflowRef>(
    workflow: C,
    ...args: WorkflowInputArgs<C, ChildOptions>
  ): Promise<{ runId: string }>;
}

/**
 * The context of one claimed attempt. Frozen; `signal` is a getter, so the
 * step's AbortController is made only when the step reads it.
 */
export function createStepContext<W = UntypedWorkflow>(
  claimed: ClaimedStep,
  definition: WorkflowDefinition,
  abort: StepAbort,
  calls: StepJournal,
  manager?: EntityManager,
  children?: { readonly source: ChildSource; readonly maxPayloadBytes: number },
): StepContext<W> {
  const child = (
    awaited: boolean,
    workflow: unknown,
    input: unknown,
    options: unknown,
  ): Promise<unknown> =>
    startChild(
      calls,
      awaited,
      claimed.id,
      children?.source,
      children?.maxPayloadBytes ?? 0,
      workflow,
      input,
      options,
    );
  return Object.freeze({
    runId: claimed.id,
    workflowName: definition.name,
    workflowVersion: definition.version,
    stepName: claimed.stepName,
    stepIndex: claimed.stepIndex,
    stepCount: definition.steps.length,
    attempt: claimed.attempt,
    maxAttempts: claimed.maxAttempts,
    get signal(): AbortSignal {
      return abort.signal;
    },
    manager,
    // The types are the caller's promise (checked at compile time against
    // W); at run time any name may come, and StepJournal checks it.
    call: ((method: string, ...args: unknown[]) =>
      calls.call(method, args)) as StepContext<W>['call'],
    emit: (method: string, ...args: unknown[]) => calls.emit(method, args),
    waitFor: ((signal: unknown, options?: unknown) =>
      waitFor(calls, signal, options)) as StepContext<W>['waitFor'],
    waitForAny: ((signals: unknown, options?: unknown) =>
      waitForAny(calls, signals, options)) as StepContext<W>['waitForAny'],
    sleep: (duration: unknown) => sleep(calls, duration),
    child: ((workflow: unknown, input?: unknown, options?: unknown) =>
      child(true, workflow, input, options)) as StepContext<W>['child'],
    startChild: ((workflow: unknown, input?: unknown, options?: unknown) =>
      child(false, workflow, input, options)) as StepContext<W>['startChild'],
  });
}
