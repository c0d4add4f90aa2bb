// Over 300 lines on purpose: one job, a step's numbered durable calls:
// recording them, replaying them against the record, and refusing calls made
// outside the step, all over the same numbered state.
import { isDeepStrictEqual } from 'node:util';
import { describeValue } from '../errors/describe-value';
import { deserializePayload, serializePayload } from '../common/json-payload';
import type {
  ActivityDefinition,
  WorkflowDefinition,
} from '../discovery/workflow-definition';
import { ActivityFailedError } from '../errors/activity-failed.error';
import { CallOutsideStepError } from '../errors/call-outside-step.error';
import { classifyError, ErrorRecord } from '../errors/classify-error';
import { InvalidActivityCallError } from '../errors/invalid-activity-call.error';
import { NonDeterministicReplayError } from '../errors/non-deterministic-replay.error';
import { ChildWorkflowFailedError } from '../errors/child-workflow-failed.error';
import { ConcurrencyDeadlockError } from '../errors/concurrency-deadlock.error';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { newRunOf } from '../engine/new-run';
import { activeTraceCarrier } from '../observability/signal-trace';
import type { NewActivityCall } from '../model/claim';
import type { RecordedCallRow } from '../engine/sql/read.sql';
import { activityInProgress } from './current-activity';
import { linkToSignalSender } from '../observability/signal-trace';
import type { RecordedCall, RecordedCalls } from './recorded-calls.cache';

/** The `ctx` methods that make a step's numbered entries. */
export type JournalApi =
  'call' | 'emit' | 'waitFor' | 'waitForAny' | 'sleep' | 'child' | 'startChild';

/** What a wait resolves with: the signal it took (its name, and its payload). */
export interface ReceivedSignal {
  readonly name: string;
  readonly payload: unknown;
}

/** How a recorded entry was made, for a replay's error message. */
function describeEntry(entry: Pick<RecordedCallRow, 'kind' | 'name'>): string {
  switch (entry.kind) {
    case 'wait':
      return entry.name.includes('|')
        ? `ctx.waitForAny(${entry.name
            .split('|')
            .map((n) => `'${n}'`)
            .join(', ')})`
        : `ctx.waitFor('${entry.name}')`;
    case 'sleep':
      return 'ctx.sleep()';
    case 'child':
      return `ctx.child('${entry.name}')`;
    case 'start':
      return `ctx.startChild('${entry.name}')`;
    default:
      return `ctx.${entry.kind}('${entry.name}')`;
  }
}

/** How a step's attempt was interrupted by its calls, if it was. */
export type CallInterruption =
  | { readonly kind: 'suspend' }
  /** A call that cannot be made (not an activity, bad arguments, a non-deterministic replay): the run fails. */
  | { readonly kind: 'fail'; readonly error: ErrorRecord }
  /** The recorded calls could not be read (the database): the attempt fails, retryably. */
  | { readonly kind: 'error'; readonly error: ErrorRecord };

/** A promise that never settles: what a suspending `ctx.call` returns. */
function never<T>(): Promise<T> {
  return new Promise<T>(() => undefined);
}

/**
 * A rejected promise that is not an unhandled rejection if nobody awaits it
 * (a late `void ctx.emit(…)` must not end the process); who awaits it still
 * gets the rejection.
 */
function refused(error: unknown): Promise<never> {
  const promise = Promise.reject(error);
  promise.catch(() => undefined);
  return promise;
}

/**
 * Whether a replay's arguments (`argsText`, as `serializePayload` wrote them)
 * are the recorded ones, compared as JSON values (the database writes keys in
 * its own order). A text found equal once is remembered with the record: a
 * step replayed n times compares each call's arguments once, not n times.
 */
function sameArguments(recorded: RecordedCall, argsText: string): boolean {
  if (recorded.matchedArgs === argsText) {
    return true;
  }
  if (
    !isDeepStrictEqual(
      deserializePayload(recorded.args),
      deserializePayload(argsText),
    )
  ) {
    return false;
  }
  recorded.matchedArgs = argsText;
  return true;
}

/** What a step's calls are made for, and how they report back. */
export interface StepCallsOptions {
  readonly definition: WorkflowDefinition;
  readonly runId: string;
  /** The step, for messages: `<workflow>#<method>`. */
  readonly step: string;
  /** Calls and emits recorded by earlier executions of this step (0: none). */
  readonly recordedCount: number;
  readonly load: () => Promise<RecordedCalls>;
  readonly maxPayloadBytes: number;
  /**
   * The attempt's abort state (`ctx.signal`'s): a call made once the attempt
   * is aborted (timeout, lost lease, cancel, shutdown) rejects with its reason.
   */
  readonly abort: { readonly aborted: boolean; readonly reason: unknown };
  /** What `ctx.child` needs: the children's definitions, and the run's own key. */
  readonly children?: ChildSource;
  /** Called once when a call suspends or fails the attempt: the runner stops waiting for the step. */
  readonly onInterrupt: () => void;
  /** Called for each call refused (its promise rejects with `error`), to log it. */
  readonly onRefused: (
    kind: JournalApi,
    method: string,
    error: unknown,
  ) => void;
}

/** Where a step's children come from. */
export interface ChildSource {
  /** The registered definition of `workflow` (a class or a name). @throws WorkflowNotRegisteredError */
  definitionOf(workflow: unknown): WorkflowDefinition;
  /** The run's concurrency key, which it holds while it waits (`null`: none). */
  readonly concurrencyKey: string | null;
}

/** Children one attempt of a step may start, at most (`ctx.child` and `ctx.startChild` together). */
export const MAX_CHILDREN_PER_ATTEMPT = 10_000;

/** A child checked and ready to record. */
export interface CheckedChild {
  readonly definition: WorkflowDefinition;
  /** JSON text of its input (`null`: none). */
  readonly input: string | null;
  readonly priority: number | undefined;
  readonly concurrencyKey: string | null;
  readonly parentClose: 'cancel' | 'abandon';
}

/**
 * The `ctx.call` / `ctx.emit` of one step attempt: numbers the calls in the
 * order the step makes them, answers the recorded ones from the step's
 * earlier executions (a replay), and collects the new ones for the outcome
 * the attempt commits.
 *
 * A call with no finished record suspends the step: its promise never
 * settles, and `onInterrupt` is called once the calls made in the same
 * turn (`Promise.all`, `.map`) have all been numbered, so they are recorded
 * together and run in parallel. The runner reads the interruption whatever
 * the step then returns or throws, so a `try/catch` around `ctx.call` cannot
 * break a suspension, nor hide a call that cannot be made.
 *
 * A call that can no longer be recorded is refused, never left hanging: made
 * after the attempt ended (from a timer, an un-awaited promise), it rejects
 * with `CallOutsideStepError`, or with `ctx.signal.reason` if the attempt was
 * aborted (timeout, lost lease, cancel, shutdown); made from inside an
 * activity (a step's `ctx` kept on the instance), with `CallOutsideStepError`.
 * Only the code of a step its calls interrupted stays parked: its calls never
 * settle, so that no `catch` of code the runner has left runs.
 */
export class StepJournal {
  private nextIndex = 0;
  private readonly fresh: NewActivityCall[] = [];
  private recorded: Promise<RecordedCalls> | undefined;
  private interruption: CallInterruption | undefined;
  private closed = false;
  /** The abort reason the attempt ended with (`undefined`: it ended on its own). */
  private endedBy: unknown;

  constructor(private readonly options: StepCallsOptions) {}

  call(method: unknown, args: unknown[]): Promise<unknown> {
    return this.make('call', method, args);
  }

  emit(method: unknown, args: unknown[]): Promise<void> {
    const made = this.make('emit', method, args).then(() => undefined);
    made.catch(() => undefined); // as in make(): a refusal nobody awaits
    return made;
  }

  /**
   * `ctx.waitFor` / `ctx.waitForAny`: resolves with the signal the wait took,
   * or `null` once `timeoutMs` passed (`null`: no timeout). The first time,
   * the wait is recorded and the step suspends, like a call.
   */
  wait(
    api: 'waitFor' | 'waitForAny',
    names: readonly string[],
    timeoutMs: number | null,
  ): Promise<ReceivedSignal | null> {
    return this.makeEntry(
      api,
      'wait',
      names,
      timeoutMs,
    ) as Promise<ReceivedSignal | null>;
  }

  /** `ctx.sleep`: resolves once `ms` passed (counted from when it was first recorded). */
  sleep(ms: number): Promise<void> {
    return this.makeEntry('sleep', 'sleep', [], ms).then(() => undefined);
  }

  /**
   * `ctx.child` (`awaited`: resolves with the child's output, or throws
   * `ChildWorkflowFailedError`) and `ctx.startChild` (resolves with
   * `{ runId }` at once). The child's run is inserted with the step's outcome,
   * once: a replay answers from the record.
   */
  child(awaited: boolean, check: () => CheckedChild): Promise<unknown> {
    const api = awaited ? 'child' : 'startChild';
    let checked: CheckedChild;
    try {
      checked = check();
    } catch (err) {
      return this.refuse(err);
    }
    const name = checked.definition.name;
    const activityRunning = activityInProgress();
    const refusal = activityRunning
      ? new CallOutsideStepError(
          api,
          name,
          this.options.runId,
          this.options.step,
          { runId: activityRunning.runId, name: activityRunning.activityName },
        )
      : this.lateRefusal(api, name);
    if (refusal !== undefined) {
      this.options.onRefused(api, name, refusal);
      return refused(refusal);
    }
    if (this.stopped) {
      return never();
    }
    const held = this.options.children?.concurrencyKey ?? null;
    if (checked.concurrencyKey !== null && checked.concurrencyKey === held) {
      // Refused at once, nothing recorded: the replay refuses it again.
      return refused(
        new ConcurrencyDeadlockError(this.options.runId, held, name),
      );
    }
    const callIndex = this.nextIndex++;
    const result = this.resolveChild(awaited, callIndex, checked);
    result.catch(() => undefined);
    return result;
  }

  private async resolveChild(
    awaited: boolean,
    callIndex: number,
    checked: CheckedChild,
  ): Promise<unknown> {
    const api = awaited ? 'child' : 'startChild';
    const kind = awaited ? 'child' : 'start';
    const name = checked.definition.name;
    const args = `[${checked.input ?? 'null'}]`;
    let recorded: RecordedCall | undefined;
    if (this.options.recordedCount > 0) {
      try {
        recorded = (await this.loadRecorded()).get(callIndex);
      } catch (err) {
        this.interrupt({ kind: 'error', error: classifyError(err) });
        return never();
      }
      const refusal = this.lateRefusal(api, name);
      if (refusal !== undefined) {
        this.options.onRefused(api, name, refusal);
        return refused(refusal);
      }
      if (this.stopped) {
        return never();
      }
    }
    if (!recorded) {
      if (
        this.fresh.filter((c) => c.child !== undefined).length >=
        MAX_CHILDREN_PER_ATTEMPT
      ) {
        return this.fail(
          new InvalidOptionsError(
            api,
            `a step may start at most ${MAX_CHILDREN_PER_ATTEMPT} children in one attempt (fan out in batches: a child per batch, or several steps)`,
          ),
        );
      }
      const run = newRunOf(checked.definition, checked.input, {
        priority: checked.priority,
        concurrencyKey: checked.concurrencyKey,
      });
      this.fresh.push({
        callIndex,
        kind,
        name,
        args,
        maxAttempts: 1,
        leaseMs: 1,
        delayMs: null,
        child: {
          run,
          parentClose: checked.parentClose,
          // The child's attempts continue this step's trace.
          traceContext: activeTraceCarrier(),
        },
      });
      if (!awaited) {
        return { runId: run.id };
      }
      this.interrupt({ kind: 'suspend' });
      return never();
    }
    if (
      recorded.kind !== kind ||
      recorded.name !== name ||
      !sameArguments(recorded, args)
    ) {
      return this.fail(
        new NonDeterministicReplayError(
          callIndex,
          describeEntry(recorded),
          `${describeEntry({ kind, name })}${recorded.name === name && recorded.kind === kind ? ' with another input' : ''}`,
        ),
      );
    }
    const childRunId = recorded.child_run_id ?? '';
    if (!awaited) {
      return { runId: childRunId };
    }
    switch (recorded.state) {
      case 'succeeded':
        return deserializePayload(recorded.result);
      case 'failed': {
        const error = recorded.error as {
          code?: string;
          message?: string;
          state?: string;
        } | null;
        throw new ChildWorkflowFailedError(
          childRunId,
          error?.state === 'cancelled' ? 'cancelled' : 'failed',
          error?.code ?? 'error',
          error?.message ?? 'The child run did not succeed.',
          name,
        );
      }
      default:
        this.interrupt({ kind: 'suspend' });
        return never();
    }
  }

  /**
   * A `ctx` method called with arguments it cannot take (a bad timeout, a
   * value that is not a signal): the run fails with `err`, as for an invalid
   * call; the promise never settles.
   */
  refuse(err: unknown): Promise<never> {
    if (this.stopped) {
      return never();
    }
    return this.fail(err);
  }

  /**
   * Ends the attempt's calls: any made from now on (by code the runner no
   * longer waits for) record nothing, and are refused unless the calls
   * interrupted the attempt.
   * @returns how the calls interrupted the attempt, if they did
   */
  close(): CallInterruption | undefined {
    this.closed = true;
    this.endedBy = this.options.abort.aborted
      ? this.options.abort.reason
      : undefined;
    return this.interruption;
  }

  /**
   * No call is taken any more: the attempt is over, or a call failed it. (A
   * suspension still takes the calls made beside the first one.)
   */
  private get stopped(): boolean {
    return (
      this.closed ||
      (this.interruption !== undefined && this.interruption.kind !== 'suspend')
    );
  }

  /** The calls and emits to write with the attempt's outcome, in call order. */
  get newCalls(): readonly NewActivityCall[] {
    return this.fresh;
  }

  private make(
    kind: 'call' | 'emit',
    method: unknown,
    args: unknown[],
  ): Promise<unknown> {
    const name = typeof method === 'string' ? method : describeValue(method);
    const activityRunning = activityInProgress();
    const refusal = activityRunning
      ? new CallOutsideStepError(
          kind,
          name,
          this.options.runId,
          this.options.step,
          { runId: activityRunning.runId, name: activityRunning.activityName },
        )
      : this.lateRefusal(kind, name);
    if (refusal !== undefined) {
      this.options.onRefused(kind, name, refusal);
      return refused(refusal);
    }
    if (this.stopped) {
      return never();
    }
    const { definition } = this.options;
    const callIndex = this.nextIndex++;
    const activity =
      typeof method === 'string'
        ? definition.activities.get(method)
        : undefined;
    if (!activity) {
      return this.fail(
        new InvalidActivityCallError(definition.className, name, [
          ...definition.activities.keys(),
        ]),
      );
    }
    let argsText: string;
    try {
      argsText = serializePayload(
        args,
        this.options.maxPayloadBytes,
        'activity arguments',
        `ctx.${kind}('${activity.method}')`,
      ) as string;
    } catch (err) {
      return this.fail(err);
    }
    const result = this.resolve(kind, callIndex, activity, argsText);
    // A failed call's rejection is the step's to handle; one it never awaits
    // must not become an unhandled rejection (which may end the process).
    result.catch(() => undefined);
    return result;
  }

  private async resolve(
    kind: 'call' | 'emit',
    callIndex: number,
    activity: ActivityDefinition,
    argsText: string,
  ): Promise<unknown> {
    let recorded: RecordedCall | undefined;
    if (this.options.recordedCount > 0) {
      try {
        recorded = (await this.loadRecorded()).get(callIndex);
      } catch (err) {
        this.interrupt({ kind: 'error', error: classifyError(err) });
        return never();
      }
      // The attempt may have ended while the record was read (the step did
      // not await this call): too late to record it.
      const refusal = this.lateRefusal(kind, activity.method);
      if (refusal !== undefined) {
        this.options.onRefused(kind, activity.method, refusal);
        return refused(refusal);
      }
      if (this.stopped) {
        return never();
      }
    }
    if (!recorded) {
      this.fresh.push({
        callIndex,
        kind,
        name: activity.name,
        args: argsText,
        maxAttempts: activity.policy.retry.maxAttempts,
        leaseMs: activity.policy.leaseMs,
      });
      if (kind === 'emit') {
        return undefined;
      }
      this.interrupt({ kind: 'suspend' });
      return never();
    }
    if (
      recorded.kind !== kind ||
      recorded.name !== activity.name ||
      !sameArguments(recorded, argsText)
    ) {
      return this.fail(
        new NonDeterministicReplayError(
          callIndex,
          describeEntry(recorded),
          `ctx.${kind}('${activity.name}')${recorded.name === activity.name && recorded.kind === kind ? ' with other arguments' : ''}`,
        ),
      );
    }
    if (kind === 'emit') {
      return undefined; // recorded already: a replay does not emit twice
    }
    switch (recorded.state) {
      case 'succeeded':
        return deserializePayload(recorded.result);
      case 'failed':
      case 'cancelled':
        throw new ActivityFailedError(
          activity.name,
          recorded.error?.code ?? recorded.state,
          recorded.error?.message ??
            `The call was ${recorded.state} before it finished.`,
        );
      default:
        // Still pending or running: wait for it again.
        this.interrupt({ kind: 'suspend' });
        return never();
    }
  }

  private makeEntry(
    api: 'waitFor' | 'waitForAny' | 'sleep',
    kind: 'wait' | 'sleep',
    names: readonly string[],
    delayMs: number | null,
  ): Promise<unknown> {
    const label = kind === 'wait' ? names.join('|') : 'sleep';
    const activityRunning = activityInProgress();
    const refusal = activityRunning
      ? new CallOutsideStepError(
          api,
          label,
          this.options.runId,
          this.options.step,
          { runId: activityRunning.runId, name: activityRunning.activityName },
        )
      : this.lateRefusal(api, label);
    if (refusal !== undefined) {
      this.options.onRefused(api, label, refusal);
      return refused(refusal);
    }
    if (this.stopped) {
      return never();
    }
    const callIndex = this.nextIndex++;
    const result = this.resolveEntry(
      api,
      { callIndex, kind, name: label, args: JSON.stringify(names) },
      delayMs,
    );
    result.catch(() => undefined);
    return result;
  }

  private async resolveEntry(
    api: 'waitFor' | 'waitForAny' | 'sleep',
    entry: {
      callIndex: number;
      kind: 'wait' | 'sleep';
      name: string;
      args: string;
    },
    delayMs: number | null,
  ): Promise<unknown> {
    let recorded: RecordedCall | undefined;
    if (this.options.recordedCount > 0) {
      try {
        recorded = (await this.loadRecorded()).get(entry.callIndex);
      } catch (err) {
        this.interrupt({ kind: 'error', error: classifyError(err) });
        return never();
      }
      const refusal = this.lateRefusal(api, entry.name);
      if (refusal !== undefined) {
        this.options.onRefused(api, entry.name, refusal);
        return refused(refusal);
      }
      if (this.stopped) {
        return never();
      }
    }
    if (!recorded) {
      this.fresh.push({ ...entry, maxAttempts: 1, leaseMs: 1, delayMs });
      this.interrupt({ kind: 'suspend' });
      return never();
    }
    if (
      recorded.kind !== entry.kind ||
      (entry.kind === 'wait' && !sameArguments(recorded, entry.args))
    ) {
      return this.fail(
        new NonDeterministicReplayError(
          entry.callIndex,
          describeEntry(recorded),
          describeEntry(entry),
        ),
      );
    }
    switch (recorded.state) {
      case 'succeeded': {
        // A signal with no payload is stored as null (a null payload is refused at send).
        const taken = deserializePayload<{
          name: string;
          payload: unknown;
          trace?: Record<string, string> | null;
        }>(recorded.result);
        linkToSignalSender(taken.trace, taken.name);
        return { name: taken.name, payload: taken.payload ?? undefined };
      }
      case 'timed_out':
        return null;
      default:
        // Still waiting: suspend again.
        this.interrupt({ kind: 'suspend' });
        return never();
    }
  }

  /**
   * Why a call made now cannot be recorded, if it cannot: the attempt ended,
   * or was aborted. (Not when the calls interrupted it: its code is parked.)
   */
  private lateRefusal(kind: JournalApi, method: string): unknown {
    if (this.interruption) {
      return undefined;
    }
    if (this.closed) {
      return (
        this.endedBy ??
        new CallOutsideStepError(
          kind,
          method,
          this.options.runId,
          this.options.step,
        )
      );
    }
    return this.options.abort.aborted ? this.options.abort.reason : undefined;
  }

  private loadRecorded(): Promise<RecordedCalls> {
    this.recorded ??= this.options.load();
    return this.recorded;
  }

  /**
   * A call that cannot be made fails the run, whatever the step would do
   * with a rejection: its promise never settles, and the runner fails the
   * attempt with `err`.
   */
  private fail(err: unknown): Promise<never> {
    const error = { ...classifyError(err), retryable: false };
    this.interrupt({ kind: 'fail', error });
    return never();
  }

  private interrupt(interruption: CallInterruption): void {
    if (this.interruption && this.interruption.kind !== 'suspend') {
      return; // a failure outranks a suspension, and the first failure stands
    }
    const first = this.interruption === undefined;
    this.interruption = interruption;
    if (first) {
      // After the calls made in this turn (Promise.all, .map) are numbered,
      // and their records read: they all resolve in the same microtasks.
      setImmediate(this.options.onInterrupt);
    }
  }
}
