// Over 300 lines on purpose: one job, the numbered entries of a step attempt
// (numbering, replay against the record, suspension, refusal), over the same
// numbered state; what each kind of entry records is in journal-entries.ts.
import type { WorkflowDefinition } from '../discovery/workflow-definition';
import { CallOutsideStepError } from '../errors/call-outside-step.error';
import { describeValue } from '../errors/describe-value';
import { classifyError, ErrorRecord } from '../errors/classify-error';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { NonDeterministicReplayError } from '../errors/non-deterministic-replay.error';
import type { NewActivityCall } from '../model/claim';
import { activityInProgress } from './current-activity';
import {
  activityEntry,
  describeEntry,
  EntrySpec,
  JournalApi,
  sameArguments,
} from './journal-entries';
import type { RecordedCall, RecordedCalls } from './recorded-calls.cache';

export type { JournalApi } from './journal-entries';

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

/** Children one attempt of a step may start, at most (`ctx.child` and `ctx.startChild` together). */
export const MAX_CHILDREN_PER_ATTEMPT = 10_000;

/** Where a step's children come from. */
export interface ChildSource {
  /** The registered definition of `workflow` (a class or a name). @throws WorkflowNotRegisteredError */
  definitionOf(workflow: unknown): WorkflowDefinition;
  /** The run's concurrency key, which it holds while it waits (`null`: none). */
  readonly concurrencyKey: string | null;
}

/** What a step's calls are made for, and how they report back. */
export interface StepCallsOptions {
  readonly definition: WorkflowDefinition;
  readonly runId: string;
  /** The step, for messages: `<workflow>#<method>`. */
  readonly step: string;
  /** Entries recorded by earlier executions of this step (0: none). */
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

/** What an entry's builder may say instead of an entry: refuse it at once, recording nothing. */
export interface Rejected {
  readonly reject: unknown;
}

/**
 * The numbered durable entries of one step attempt (`ctx.call`, `ctx.emit`,
 * `ctx.waitFor`, `ctx.waitForAny`, `ctx.sleep`, `ctx.child`,
 * `ctx.startChild`; journal-entries.ts says what each records and means):
 * numbers them in the order the step makes them, answers the recorded ones
 * from the step's earlier executions (a replay), and collects the new ones
 * for the outcome the attempt commits.
 *
 * An entry with no finished record suspends the step: its promise never
 * settles, and `onInterrupt` is called once the entries made in the same
 * turn (`Promise.all`, `.map`) have all been numbered, so they are recorded
 * together (calls run in parallel, children are enqueued in one statement).
 * The runner reads the interruption whatever the step then returns or
 * throws, so a `try/catch` around `ctx.call` cannot break a suspension, nor
 * hide an entry that cannot be made.
 *
 * An entry that can no longer be recorded is refused, never left hanging:
 * made after the attempt ended (from a timer, an un-awaited promise), it
 * rejects with `CallOutsideStepError`, or with `ctx.signal.reason` if the
 * attempt was aborted (timeout, lost lease, cancel, shutdown); made from
 * inside an activity (a step's `ctx` kept on the instance), with
 * `CallOutsideStepError`. Only the code of a step its entries interrupted
 * stays parked: its entries never settle, so that no `catch` of code the
 * runner has left runs.
 */
export class StepJournal {
  private nextIndex = 0;
  private readonly fresh: NewActivityCall[] = [];
  private freshChildren = 0;
  private recorded: Promise<RecordedCalls> | undefined;
  private interruption: CallInterruption | undefined;
  private closed = false;
  /** The abort reason the attempt ended with (`undefined`: it ended on its own). */
  private endedBy: unknown;

  constructor(private readonly options: StepCallsOptions) {}

  call(method: unknown, args: unknown[]): Promise<unknown> {
    return this.activity('call', method, args);
  }

  emit(method: unknown, args: unknown[]): Promise<void> {
    const made = this.activity('emit', method, args).then(() => undefined);
    made.catch(() => undefined); // as in enter(): a refusal nobody awaits
    return made;
  }

  /**
   * Makes the entry `build` describes (`api` and `label` name it in
   * refusals). `build` runs only if the entry may be made now; its throw
   * (bad arguments) fails the run, as an invalid call does.
   */
  enter(
    api: JournalApi,
    label: string,
    build: () => EntrySpec | Rejected,
  ): Promise<unknown> {
    const refusal = this.refusalOf(api, label);
    if (refusal !== undefined) {
      this.options.onRefused(api, label, refusal);
      return refused(refusal);
    }
    if (this.stopped) {
      return never();
    }
    let spec: EntrySpec | Rejected;
    try {
      spec = build();
    } catch (err) {
      return this.fail(err);
    }
    if ('reject' in spec) {
      // Refused at once, nothing recorded (the replay refuses it again).
      return refused(spec.reject);
    }
    const result = this.resolve(api, label, this.nextIndex++, spec);
    // A rejection is the step's to handle; one it never awaits must not
    // become an unhandled rejection (which may end the process).
    result.catch(() => undefined);
    return result;
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

  /** The entries to write with the attempt's outcome, in the order they were made. */
  get newCalls(): readonly NewActivityCall[] {
    return this.fresh;
  }

  /**
   * No entry is taken any more: the attempt is over, or an entry failed it.
   * (A suspension still takes the entries made beside the first one.)
   */
  private get stopped(): boolean {
    return (
      this.closed ||
      (this.interruption !== undefined && this.interruption.kind !== 'suspend')
    );
  }

  private activity(
    kind: 'call' | 'emit',
    method: unknown,
    args: unknown[],
  ): Promise<unknown> {
    const { definition, maxPayloadBytes } = this.options;
    const label = typeof method === 'string' ? method : describeValue(method);
    return this.enter(kind, label, () =>
      activityEntry(kind, definition, method, args, maxPayloadBytes),
    );
  }

  private async resolve(
    api: JournalApi,
    label: string,
    callIndex: number,
    spec: EntrySpec,
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
      // not await this entry): too late to record it.
      const refusal = this.lateRefusal(api, label);
      if (refusal !== undefined) {
        this.options.onRefused(api, label, refusal);
        return refused(refusal);
      }
      if (this.stopped) {
        return never();
      }
    }
    if (!recorded) {
      return this.record(api, callIndex, spec);
    }
    const sameEntry =
      recorded.kind === spec.kind && recorded.name === spec.name;
    if (
      !sameEntry ||
      (spec.compareArgs && !sameArguments(recorded, spec.args))
    ) {
      return this.fail(
        new NonDeterministicReplayError(
          callIndex,
          describeEntry(recorded),
          `${describeEntry(spec)}${sameEntry ? spec.otherArgs : ''}`,
        ),
      );
    }
    const settled = spec.settled(recorded); // a throw is the step's rejection
    if (settled === undefined) {
      this.interrupt({ kind: 'suspend' });
      return never();
    }
    return settled.value;
  }

  /** The first time: writes the entry with the outcome, and suspends the step unless it needs not wait. */
  private record(api: JournalApi, callIndex: number, spec: EntrySpec): unknown {
    if (spec.fresh.child && ++this.freshChildren > MAX_CHILDREN_PER_ATTEMPT) {
      return this.fail(
        new InvalidOptionsError(
          api,
          `a step may start at most ${MAX_CHILDREN_PER_ATTEMPT} children in one attempt (fan out in batches: children that start children, or several steps)`,
        ),
      );
    }
    this.fresh.push({ ...spec.fresh, callIndex });
    if (spec.freshValue) {
      return spec.freshValue.value;
    }
    this.interrupt({ kind: 'suspend' });
    return never();
  }

  /** Why an entry made now cannot be recorded, if it cannot: from an activity, or too late. */
  private refusalOf(api: JournalApi, label: string): unknown {
    const activityRunning = activityInProgress();
    return activityRunning
      ? new CallOutsideStepError(
          api,
          label,
          this.options.runId,
          this.options.step,
          { runId: activityRunning.runId, name: activityRunning.activityName },
        )
      : this.lateRefusal(api, label);
  }

  /**
   * Why an entry made now cannot be recorded, if it cannot: the attempt
   * ended, or was aborted. (Not when its entries interrupted it: its code is
   * parked.)
   */
  private lateRefusal(api: JournalApi, label: string): unknown {
    if (this.interruption) {
      return undefined;
    }
    if (this.closed) {
      return (
        this.endedBy ??
        new CallOutsideStepError(
          api,
          label,
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
   * An entry that cannot be made fails the run, whatever the step would do
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
      // After the entries made in this turn (Promise.all, .map) are
      // numbered, and their records read: they all resolve in the same microtasks.
      setImmediate(this.options.onInterrupt);
    }
  }
}
