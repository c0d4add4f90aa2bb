import type {
  ActivityAttemptDetails,
  ActivityCallDetails,
  SignalDetails,
  WaitDetails,
} from '../model/run-details';
import type { ActivityCallRow } from './sql/read.sql';
import type { SignalRow, WaitRow } from './sql/signal.sql';

const WAIT_STATE: Record<string, WaitDetails['state']> = {
  waiting: 'waiting',
  succeeded: 'received',
  timed_out: 'timed_out',
  cancelled: 'cancelled',
};

export function toWaitDetails(row: WaitRow): WaitDetails {
  return {
    stepIndex: row.step_index,
    stepName: row.step_name ?? undefined,
    callIndex: row.call_index,
    kind: row.kind === 'wait' ? 'signal' : 'sleep',
    names: row.kind === 'wait' ? row.args : [],
    state: WAIT_STATE[row.state] ?? 'waiting',
    deadline: row.deadline ?? undefined,
    signalId: row.signal_id ?? undefined,
    createdAt: row.created_at,
    completedAt: row.completed_at ?? undefined,
  };
}

export function toSignalDetails(row: SignalRow): SignalDetails {
  return {
    signalId: row.id,
    name: row.name,
    state: row.state,
    idempotencyKey: row.idempotency_key ?? undefined,
    consumedBy:
      row.step_index === null || row.call_index === null
        ? undefined
        : {
            stepIndex: row.step_index,
            stepName: row.step_name ?? undefined,
            callIndex: row.call_index,
          },
    sentAt: row.created_at,
    consumedAt: row.consumed_at ?? undefined,
  };
}

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
