import { isDeepStrictEqual } from 'node:util';
import { describeValue } from '../common/describe-value';
import { deserializePayload, serializePayload } from '../common/json-payload';
import type {
  ActivityDefinition,
  WorkflowDefinition,
} from '../discovery/workflow-definition';
import { ActivityFailedError } from '../errors/activity-failed.error';
import { classifyError, ErrorRecord } from '../errors/classify-error';
import { InvalidActivityCallError } from '../errors/invalid-activity-call.error';
import { NonDeterministicReplayError } from '../errors/non-deterministic-replay.error';
import type { NewActivityCall } from '../queue/claimed-run';
import type { RecordedCallRow } from '../engine/sql/read.sql';

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
 */
export class StepCalls {
  private nextIndex = 0;
  private readonly fresh: NewActivityCall[] = [];
  private recorded: Promise<Map<number, RecordedCallRow>> | undefined;
  private interruption: CallInterruption | undefined;
  private closed = false;

  constructor(
    private readonly definition: WorkflowDefinition,
    /** Calls and emits recorded by earlier executions of this step (0: none). */
    private readonly recordedCount: number,
    private readonly load: () => Promise<RecordedCallRow[]>,
    private readonly maxPayloadBytes: number,
    /** Called once when a call suspends or fails the attempt: the runner stops waiting for the step. */
    private readonly onInterrupt: () => void,
  ) {}

  call(method: unknown, args: unknown[]): Promise<unknown> {
    return this.make('call', method, args);
  }

  async emit(method: unknown, args: unknown[]): Promise<void> {
    await this.make('emit', method, args);
  }

  /**
   * Ends the attempt's calls: any made from now on (by code the runner no
   * longer waits for) record nothing.
   * @returns how the calls interrupted the attempt, if they did
   */
  close(): CallInterruption | undefined {
    this.closed = true;
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
    if (this.stopped) {
      return never();
    }
    const callIndex = this.nextIndex++;
    const activity =
      typeof method === 'string'
        ? this.definition.activities.get(method)
        : undefined;
    if (!activity) {
      return this.fail(
        new InvalidActivityCallError(
          this.definition.className,
          typeof method === 'string' ? method : describeValue(method),
          [...this.definition.activities.keys()],
        ),
      );
    }
    let argsText: string;
    try {
      argsText = serializePayload(
        args,
        this.maxPayloadBytes,
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
    let recorded: RecordedCallRow | undefined;
    if (this.recordedCount > 0) {
      try {
        recorded = (await this.loadRecorded()).get(callIndex);
      } catch (err) {
        this.interrupt({ kind: 'error', error: classifyError(err) });
        return never();
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
        leaseMs: activity.policy.heartbeatMs,
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
      !isDeepStrictEqual(
        deserializePayload(recorded.args),
        deserializePayload(argsText),
      )
    ) {
      return this.fail(
        new NonDeterministicReplayError(
          callIndex,
          `ctx.${recorded.kind}('${recorded.name}')`,
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

  private loadRecorded(): Promise<Map<number, RecordedCallRow>> {
    this.recorded ??= this.load().then(
      (rows) => new Map(rows.map((row) => [row.call_index, row])),
    );
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
      setImmediate(this.onInterrupt);
    }
  }
}
