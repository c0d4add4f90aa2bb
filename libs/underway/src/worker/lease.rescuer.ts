import { Logger } from '@nestjs/common';
import { findActivity } from '../execution/call.handler';
import { formatDuration } from '../common/duration';
import type { ResolvedRetryPolicy } from '../common/retry-policy';
import type { SqlExecutor } from '../database/sql-executor';
import type { WorkflowRegistry } from '../discovery/workflow.registry';
import type { TransitionWriter } from '../engine/transition.writer';
import type { ErrorRecord } from '../errors/classify-error';
import type { UnderwayEvents } from '../events/underway-events';
import {
  activityClaimId,
  FencedOutcome,
  RetryOutcome,
  FailOutcome,
} from '../model/claim';
import type { TaskRepository } from '../engine/task.repository';
import type { ExpiredTaskRow } from '../engine/sql/commit.sql';
import { decideFailure } from '../engine/failure-decision';
import type { WakeScheduler } from './attempt.runner';

/** Tasks taken back per pass, of each kind; the claim loop sweeps again on its next poll. */
const RESCUE_BATCH = 500;

/**
 * Takes back the runs and activity calls whose lease lapsed (their worker
 * died or stalled), on every poll of the claim loop, as River's job rescuer
 * does: it finds them with a plain read, asks the same failure policy a
 * thrown error gets (`decideFailure`: the task's retry policy and backoff,
 * and `failed` once its attempts are used up, with code `lease_expired`), and
 * commits each verdict through the same fenced outcome statement a worker
 * uses, which re-checks that the lease is still lapsed. The lost attempt is
 * recorded as `lease_expired`, under the worker that held it.
 */
export class LeaseRescuer {
  private readonly logger = new Logger(LeaseRescuer.name);

  constructor(
    private readonly queue: TaskRepository,
    private readonly executor: SqlExecutor,
    private readonly writer: TransitionWriter,
    private readonly events: UnderwayEvents,
    private readonly registry: WorkflowRegistry,
    /** The policy of a task whose workflow is not registered here. */
    private readonly fallbackPolicy: ResolvedRetryPolicy,
    private readonly wake: Pick<WakeScheduler, 'claimSoon' | 'wakeIn'>,
    private readonly worker: string,
  ) {}

  async sweep(): Promise<void> {
    const expired = await this.queue.expired(this.executor, RESCUE_BATCH);
    if (expired.length === 0) {
      return;
    }
    const verdicts = expired.map((row) => this.verdict(row));
    const transitions = await this.writer.commit(
      this.executor,
      verdicts.map((v) => v.outcome),
      this.worker,
    );
    const applied = new Set(transitions.map((t) => t.taskId));
    let soonestMs = Infinity;
    for (const { row, outcome } of verdicts) {
      if (!applied.has(outcome.run.id)) {
        continue; // renewed, finished or taken back meanwhile
      }
      const decided = outcome.outcome;
      const retry = decided.kind === 'retry';
      const delayMs = decided.kind === 'retry' ? decided.delayMs : 0;
      soonestMs = Math.min(soonestMs, delayMs);
      this.logger.warn(
        `${label(row)} attempt ${row.attempt}/${row.max_attempts}: lease expired, ` +
          (retry
            ? `will be retried in ${formatDuration(delayMs)}`
            : `no attempts left, ${row.kind === 'step' ? 'run' : 'call'} failed`),
      );
      if (this.events.has('attempt:expired')) {
        this.events.emit(
          'attempt:expired',
          row.kind === 'step'
            ? {
                runId: row.run_id,
                workflowName: row.workflow_name,
                step: this.stepName(row),
                kind: 'step',
                attempt: row.attempt,
              }
            : {
                runId: row.run_id,
                workflowName: row.workflow_name,
                step: this.stepName(row),
                kind: 'activity',
                activity: row.name ?? '',
                attempt: row.attempt,
              },
        );
      }
    }
    if (soonestMs <= 0) {
      this.wake.claimSoon();
    } else if (Number.isFinite(soonestMs)) {
      this.wake.wakeIn(soonestMs);
    }
  }

  /** What a lapsed attempt comes to: a retry after the policy's backoff, or a failure. */
  private verdict(row: ExpiredTaskRow): {
    row: ExpiredTaskRow;
    outcome: FencedOutcome;
  } {
    const definition = this.registry.find(
      row.workflow_name,
      row.workflow_version,
    );
    const policy =
      (row.kind === 'step'
        ? definition?.stepsByName.get(row.step_name ?? '')?.policy.retry
        : definition &&
          findActivity(definition, row.name ?? '')?.policy.retry) ??
      this.fallbackPolicy;
    const error = leaseExpiredError(row);
    const decision = decideFailure(
      policy,
      row.attempt,
      row.max_attempts,
      error,
    );
    const stored = {
      code: error.code,
      message: error.message,
      name: error.name,
    };
    const outcome: RetryOutcome | FailOutcome =
      decision.kind === 'retry'
        ? {
            kind: 'retry',
            delayMs: decision.delayMs,
            error: stored,
            attemptState: 'lease_expired',
          }
        : { kind: 'fail', error: stored, attemptState: 'lease_expired' };
    const rescue = { leaseOwner: row.lease_owner };
    if (row.kind === 'step') {
      return {
        row,
        outcome: {
          run: {
            kind: 'step',
            id: row.run_id,
            workflowName: row.workflow_name,
            stepIndex: row.step_index,
            stepName: row.step_name,
            attempt: row.attempt,
            fence: row.fence,
            claimedAt: row.attempt_started_at,
          },
          outcome,
          rescue,
        },
      };
    }
    const callIndex = row.call_index ?? 0;
    return {
      row,
      outcome: {
        run: {
          kind: 'activity',
          id: activityClaimId(row.run_id, row.step_index, callIndex),
          runId: row.run_id,
          workflowName: row.workflow_name,
          stepIndex: row.step_index,
          callIndex,
          name: row.name ?? '',
          attempt: row.attempt,
          fence: row.fence,
          claimedAt: row.attempt_started_at,
        },
        outcome,
        rescue,
      },
    };
  }

  private stepName(row: ExpiredTaskRow): string {
    return row.step_name ?? String(row.step_index);
  }
}

/** The error a lapsed attempt is recorded with. */
function leaseExpiredError(row: ExpiredTaskRow): ErrorRecord {
  const what = row.kind === 'step' ? 'attempt' : 'attempt of this activity';
  const next =
    row.attempt >= row.max_attempts
      ? 'and no attempts remain.'
      : `the ${row.kind === 'step' ? 'step' : 'activity'} will be retried.`;
  return {
    code: 'lease_expired',
    message:
      `The worker running ${what} ${row.attempt}/${row.max_attempts} stopped renewing its lease ` +
      `(it crashed or stalled)${row.attempt >= row.max_attempts ? ', ' : '; '}${next}`,
    name: 'LeaseExpired',
    retryable: true,
  };
}

function label(row: ExpiredTaskRow): string {
  return row.kind === 'step'
    ? `Run ${row.run_id} ${row.workflow_name} step ${row.step_index}${row.step_name === null ? '' : ` (${row.step_name})`}`
    : `Run ${row.run_id} ${row.workflow_name} activity ${row.name} (call ${row.call_index} of step ${row.step_index})`;
}
