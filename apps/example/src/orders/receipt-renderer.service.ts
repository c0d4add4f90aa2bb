import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable } from '@nestjs/common';
import { Order } from './order.entity';

/**
 * Renders an order's receipt. Stands in for PDF rendering: it takes 2 s,
 * long enough to stop the app (Ctrl-C) while a receipt renders, then start
 * it again and watch the run go on from where it was. Its own provider, so
 * that a test replaces it (`overrideProvider(ReceiptRenderer)`): this wait
 * is real time, not Underway's clock.
 */
@Injectable()
export class ReceiptRenderer {
  readonly renderTimeMs: number = 2_000;

  /** The receipt's id. Honours `signal` (timeout, cancel, lost lease, shutdown). */
  async render(order: Order, signal: AbortSignal): Promise<string> {
    await sleep(this.renderTimeMs, undefined, { signal });
    return `RCPT-${String(order.id).padStart(6, '0')}`;
  }
}
