import type {
  ActivityAttemptDetails,
  ActivityCallDetails,
} from '../model/run-details';
import type { ActivityCallRow } from './sql/read.sql';

export function toActivityCallDetails(
  row: ActivityCallRow,
): ActivityCallDetails {
  return {
    stepIndex: row.step_index,
    callIndex: row.call_index,
    name: row.name,
    kind: row.kind,
    state: row.state as ActivityCallDetails['state'],
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    error: row.error ?? undefined,
    attempts: row.attempts.map((a) => ({
      attempt: a.attempt,
      state: a.state as ActivityAttemptDetails['state'],
      error: a.error ?? undefined,
      worker: a.worker ?? undefined,
      startedAt: a.started_at === null ? undefined : new Date(a.started_at),
      completedAt: new Date(a.completed_at),
    })),
    createdAt: row.created_at,
    startedAt: row.started_at ?? undefined,
    completedAt: row.completed_at ?? undefined,
  };
}
