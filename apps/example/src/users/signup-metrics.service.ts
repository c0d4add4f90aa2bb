import { Injectable } from '@nestjs/common';

/**
 * Counts signups per email domain, in memory. Stands in for a metrics
 * backend (StatsD, Prometheus): the signup workflow feeds it through a
 * fire-and-forget activity, `ctx.emit('trackSignupMetric', email)`.
 */
@Injectable()
export class SignupMetrics {
  private readonly byDomain = new Map<string, number>();

  /** @returns the signups counted so far for the email's domain */
  recordSignup(email: string): number {
    const domain = email.slice(email.lastIndexOf('@') + 1);
    const count = (this.byDomain.get(domain) ?? 0) + 1;
    this.byDomain.set(domain, count);
    return count;
  }
}
