/** Orders of this amount or more wait for an approval: 500.00. */
const DEFAULT_THRESHOLD_CENTS = 50_000;

/**
 * How long an order waits for a decision before it escalates. Short, so that
 * the start-up demo shows an escalation; a shop would wait days
 * (`ORDER_APPROVAL_TIMEOUT=3d`).
 */
const DEFAULT_TIMEOUT = '10s';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+)(ms|s|m|h|d)$/;

/**
 * When an order needs an approval, and how long it waits for one: from
 * `ORDER_APPROVAL_THRESHOLD_CENTS` and `ORDER_APPROVAL_TIMEOUT`, read once at
 * boot (a bad value stops the boot with a line that says which).
 */
export class OrderApprovalConfig {
  private constructor(
    readonly thresholdCents: number,
    /** As written (`'10s'`), for log lines. */
    readonly timeout: string,
    readonly timeoutMs: number,
  ) {}

  static fromEnv(env: NodeJS.ProcessEnv): OrderApprovalConfig {
    const threshold = env.ORDER_APPROVAL_THRESHOLD_CENTS;
    const thresholdCents =
      threshold === undefined || threshold === ''
        ? DEFAULT_THRESHOLD_CENTS
        : Number(threshold);
    if (!Number.isSafeInteger(thresholdCents) || thresholdCents < 1) {
      throw new Error(
        `ORDER_APPROVAL_THRESHOLD_CENTS must be a positive whole number of cents, got "${threshold}"`,
      );
    }
    const timeout = env.ORDER_APPROVAL_TIMEOUT || DEFAULT_TIMEOUT;
    const [, amount, unit] = DURATION.exec(timeout) ?? [];
    const timeoutMs = Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
    if (!(timeoutMs > 0)) {
      throw new Error(
        `ORDER_APPROVAL_TIMEOUT must be a duration such as 500ms, 10s, 15m, 1h or 3d, got "${timeout}"`,
      );
    }
    return new OrderApprovalConfig(thresholdCents, timeout, timeoutMs);
  }

  /** Decided when the order is placed, and kept by its run. */
  requiresApproval(amountCents: number): boolean {
    return amountCents >= this.thresholdCents;
  }
}
