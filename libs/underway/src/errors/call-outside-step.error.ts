import { UnderwayError } from './underway.error';

/**
 * `ctx.call` / `ctx.emit` was used outside the step it belongs to: after the
 * step returned (from a timer, or a promise nothing awaited), or from inside
 * an activity (a step's `ctx` kept on the instance). Nothing was recorded;
 * the step's outcome is not changed. (A call made after the attempt was
 * aborted, by its timeout, a cancel, a lost lease or a shutdown, rejects with
 * `ctx.signal.reason` instead.)
 *
 * @publicApi
 */
export class CallOutsideStepError extends UnderwayError {
  readonly code = 'call_outside_step';

  constructor(
    /** The `ctx` method used. */
    readonly kind:
      | 'call'
      | 'emit'
      | 'waitFor'
      | 'waitForAny'
      | 'sleep'
      | 'child'
      | 'startChild',
    /** The activity method named (the signal names, `|`-joined, for a wait). */
    readonly method: string,
    /** The run of the step whose `ctx` was used. */
    readonly runId: string,
    /** That step, as `<workflow>#<method>`. */
    step: string,
    /** The activity it was used from (`undefined`: after the step ended). */
    activity?: { readonly runId: string; readonly name: string },
  ) {
    const call = kind === 'sleep' ? 'ctx.sleep()' : `ctx.${kind}('${method}')`;
    super(
      activity
        ? `${call} of step ${step} (run ${runId}) was made from inside activity "${activity.name}" ` +
            `(run ${activity.runId}), so it was not recorded: an activity cannot call, emit, wait or sleep, ` +
            `and a step's ctx works only while that step runs. Do it from the step ` +
            `(return what the activity found, and go on from the step).`
        : `${call} was made after step ${step} of run ${runId} ended, so it was not recorded: ` +
            `a step's ctx.call, ctx.emit, ctx.waitFor and ctx.sleep work only while the step runs. Await every one ` +
            `before the step returns (no timer or un-awaited promise that makes them later).`,
    );
  }
}
