/**
 * What a `NOTIFY` on the schema's channel says to the workers (payloads
 * never carry input data; every notification is only a hint, polling stays
 * the fallback):
 *
 * - `''`: work is due now: claim.
 * - a number: work becomes due in that many ms (relative, so the clocks of
 *   other hosts do not matter: it is received after the commit).
 * - `cancel:<runId>`: that run was cancelled: abort its attempts running here.
 * - `schedules`: schedules changed: re-arm the scheduler's timer.
 *
 * Work that is due now goes through `notify_workers()` (migration 5), which
 * notifies only while some worker waits for work (busy workers find it with
 * their next claim); everything else, which a busy worker must hear (a
 * cancel, a schedule change, work due later), through `pg_notify`.
 */
export type WakeSignal =
  | { readonly kind: 'claim'; readonly inMs: number }
  | { readonly kind: 'cancel'; readonly runId: string }
  | { readonly kind: 'schedules' };

/** The payload prefix of a cancel: `cancel:<runId>`. */
export const CANCEL_PREFIX = 'cancel:';
/** The payload that says schedules changed. */
export const SCHEDULES_CHANGED = 'schedules';

/** What a notification's payload says; an unknown one is read as "claim now". */
export function parseWakeSignal(payload: string): WakeSignal {
  if (payload.startsWith(CANCEL_PREFIX)) {
    return { kind: 'cancel', runId: payload.slice(CANCEL_PREFIX.length) };
  }
  if (payload === SCHEDULES_CHANGED) {
    return { kind: 'schedules' };
  }
  const inMs = payload === '' ? 0 : Number(payload);
  return {
    kind: 'claim',
    inMs: Number.isFinite(inMs) && inMs > 0 ? inMs : 0,
  };
}
