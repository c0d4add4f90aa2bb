/** A run claimed by this worker: its current step, and the fencing token. */
export interface ClaimedRun {
  readonly id: string;
  readonly workflowName: string;
  readonly stepIndex: number;
  /** Attempts made at this step, this one included (1-based). */
  readonly attempt: number;
  /** Bumped by every claim; every write of this worker is conditioned on it. */
  readonly fence: string;
  readonly maxAttempts: number;
  readonly leaseMs: number;
  /** JSON text of the step's input, `null` for none. */
  readonly input: string | null;
  /** When the claim was made, as the database printed it (sent back as is). */
  readonly claimedAt: string;
}

/** How an attempt ended, as stored in `step_attempt.state`. */
export type AttemptState = 'succeeded' | 'failed' | 'timed_out';

/** What a worker commits for a claimed run, fenced by `fence`. */
export type RunOutcome =
  | {
      readonly kind: 'next';
      readonly input: string | null;
      readonly delayMs: number;
      readonly maxAttempts: number;
      readonly leaseMs: number;
      readonly priority: number | null;
    }
  | { readonly kind: 'complete'; readonly output: string | null }
  | {
      readonly kind: 'retry';
      readonly delayMs: number;
      readonly error: object;
      readonly attemptState: AttemptState;
    }
  | {
      readonly kind: 'fail';
      readonly error: object;
      readonly attemptState: AttemptState;
    }
  /** Give the claim back without counting the attempt (shutdown). */
  | { readonly kind: 'release' };
