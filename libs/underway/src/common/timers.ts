/** The longest delay `setTimeout` accepts (2^31 − 1 ms); longer waits must re-arm. */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

/**
 * Resolves after `ms`, or at once when `signal` aborts. Never rejects. Waits
 * longer than `setTimeout` accepts re-arm.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  const until = Date.now() + Math.max(0, ms);
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    let timer: NodeJS.Timeout;
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const arm = (): void => {
      timer = setTimeout(
        () => {
          if (Date.now() < until) {
            arm();
            return;
          }
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.min(Math.max(0, until - Date.now()), MAX_TIMER_DELAY_MS),
      );
    };
    arm();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Full jitter backoff for infrastructure retries: a random delay in [cap/2, cap]. */
export function jitteredBackoffMs(
  attempt: number,
  initialMs: number,
  maxMs: number,
): number {
  const cap = Math.min(
    maxMs,
    initialMs * Math.pow(2, Math.max(0, attempt - 1)),
  );
  return Math.round(cap / 2 + (Math.random() * cap) / 2);
}
