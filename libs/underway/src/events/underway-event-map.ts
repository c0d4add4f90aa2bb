import type { RecordedError } from '../model/recorded-error';

/** Who inserted runs: `run:enqueued`'s `source`. */
export type RunEnqueueSource = 'client' | 'schedule' | 'redrive' | 'child';

/** What an attempt ran: a step of a run, or an activity call of one. */
export type AttemptKind = 'step' | 'activity';

/**
 * How an attempt ended, as `attempt:settled` reports it:
 *
 * - `next`: its step returned `Transition.next` or `Transition.after`;
 * - `completed`: its step completed the run, or its activity returned;
 * - `suspended`: its step waits on activity calls (the attempt resumes later);
 * - `retry`: it failed and is retried after its backoff;
 * - `failed`: it failed for good (the run, or the activity call, failed);
 * - `cancelled`: the run was cancelled while it ran (nothing it did was kept);
 * - `released`: it was given back without counting (shutdown).
 */
export type AttemptOutcome =
  | 'next'
  | 'completed'
  | 'suspended'
  | 'retry'
  | 'failed'
  | 'cancelled'
  | 'released';

/** The terminal states a run finishes in. */
export type FinishedRunState = 'succeeded' | 'failed' | 'cancelled';

/** What identifies an attempt in `attempt:*` events. */
export type AttemptEventTask =
  | {
      readonly runId: string;
      readonly workflowName: string;
      /** The step's durable name (the method name today). */
      readonly step: string;
      readonly kind: 'step';
      /** 1 on the first attempt of the step. */
      readonly attempt: number;
    }
  | {
      readonly runId: string;
      readonly workflowName: string;
      /** The durable name of the step that made the call. */
      readonly step: string;
      readonly kind: 'activity';
      /** The activity's durable name (`@Activity({ name })`). */
      readonly activity: string;
      /** 1 on the first attempt of the call. */
      readonly attempt: number;
    };

/**
 * Every event `UnderwayEvents` emits, by name, with its payload. Each is
 * emitted in the process whose statement made the change, once per change,
 * after that statement's transaction committed (never when it rolled back),
 * and is not relayed to other processes.
 *
 * @publicApi
 */
export interface UnderwayEventMap {
  /** Runs were inserted: by `enqueue`/`enqueueMany`, a schedule's fire, or a redrive. */
  'run:enqueued': {
    readonly runIds: readonly string[];
    readonly workflowName: string;
    readonly source: RunEnqueueSource;
  };
  /** This process started an attempt (its user code is about to run). */
  'attempt:started': AttemptEventTask;
  /**
   * An attempt of this process ended and its outcome committed. Each
   * `attempt:started` is followed by one `attempt:settled`, or by one
   * `lease:lost` when the attempt's claim was taken back before it committed.
   */
  'attempt:settled': AttemptEventTask & {
    readonly outcome: AttemptOutcome;
    /** From the start of the attempt's code to its outcome's commit. */
    readonly durationMs: number;
    /** Why it failed, when `outcome` is `retry` or `failed`. */
    readonly error?: RecordedError;
  };
  /** A run finished: by a step, retries exhausted, the lease rescuer, or a cancel. */
  'run:finished': {
    readonly runId: string;
    readonly workflowName: string;
    readonly state: FinishedRunState;
  };
  /**
   * This process lost the claim of an attempt it ran (its lease lapsed and
   * another worker may hold it): what the attempt does next is not kept.
   */
  'lease:lost': {
    readonly runId: string;
    readonly step: string;
    readonly attempt: number;
  };
  /** A schedule's tick inserted its run (a skipped tick, `overlap: 'skip'`, is not a fire). */
  'schedule:fired': {
    readonly workflowName: string;
    readonly key: string;
    readonly fireAt: Date;
    readonly runId: string;
  };
  /**
   * A signal was stored for a run (`client.signal`, `signalWithStart`), in
   * the process that sent it, once its transaction committed; a resend whose
   * idempotency key was taken (`duplicate`) is not announced. `delivered`: a
   * wait of the run took it at once (else it is buffered).
   */
  'signal:received': {
    readonly runId: string;
    readonly name: string;
    readonly signalId: string;
    readonly delivered: boolean;
  };
  /** The worker's `LISTEN` connection is (again) connected and listening. */
  'listener:connected': Record<string, never>;
  /** The worker's `LISTEN` connection was lost; it reconnects with backoff. */
  'listener:lost': { readonly error: Error };
}

/** An event's name. @publicApi */
export type UnderwayEventName = keyof UnderwayEventMap;

/** A listener of event `K`: may be async; the engine never awaits it. @publicApi */
export type UnderwayEventListener<K extends UnderwayEventName> = (
  payload: UnderwayEventMap[K],
) => unknown;
