import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import {
  CompleteTransition,
  NextTransition,
  Step,
  StepContext,
  StepError,
  Transition,
  Workflow,
} from '@underway/nestjs';
import { Repository } from 'typeorm';
import { Order } from './order.entity';
import { Receipt } from './receipt.entity';

/** Input of an `order-receipt` run. */
export interface OrderReceiptInput {
  readonly orderId: number;
}

/** What `renderReceipt` hands to `emailReceipt`. */
export interface RenderedReceipt {
  readonly orderId: number;
  readonly receiptId: string;
}

/** Output of a succeeded `order-receipt` run. */
export interface OrderReceiptOutput {
  readonly receiptId: string;
}

/**
 * Long enough to stop the app (Ctrl-C) while a receipt renders, then start it
 * again and watch the run go on from where it was.
 */
const RENDER_TIME_MS = 2_000;

/**
 * Renders an order's receipt, then emails it. Each step is durable: once
 * `renderReceipt` has returned, a restart goes on with `emailReceipt` and never
 * renders again. `renderReceipt` is transactional: the receipt row it stores
 * through `ctx.manager` commits with the run's move to the next step, or not
 * at all (a crash mid-step leaves no row, and the retry stores one). The
 * first email attempt fails on purpose, to show a retry.
 */
@Workflow({ name: 'order-receipt' })
export class OrderReceiptWorkflow {
  private readonly logger = new Logger(OrderReceiptWorkflow.name);

  constructor(
    @InjectRepository(Order) private readonly orders: Repository<Order>,
  ) {}

  @Step({ transactional: true })
  async renderReceipt(
    { orderId }: OrderReceiptInput,
    ctx: StepContext,
  ): Promise<NextTransition<RenderedReceipt>> {
    this.logger.log(
      `Run ${ctx.runId} order-receipt#renderReceipt attempt ${ctx.attempt}/${ctx.maxAttempts}: rendering the receipt of order ${orderId} (takes ${RENDER_TIME_MS / 1000}s)`,
    );
    const order = await this.orders.findOneBy({ id: orderId });
    if (!order) {
      throw StepError.fatal('missing_order', `No order with id ${orderId}`);
    }
    // Stands in for PDF rendering. The wait honours ctx.signal, which aborts
    // on timeout, cancel, lost lease or shutdown.
    await sleep(RENDER_TIME_MS, undefined, { signal: ctx.signal });
    const receiptId = `RCPT-${String(order.id).padStart(6, '0')}`;
    // In the step's transaction: committed with Transition.next below.
    await ctx.manager!.save(Receipt, { id: receiptId, orderId });
    this.logger.log(
      `Run ${ctx.runId} order-receipt#renderReceipt: receipt ${receiptId} rendered (its row commits with the next step)`,
    );
    return Transition.next({ orderId, receiptId });
  }

  @Step()
  async emailReceipt(
    { orderId, receiptId }: RenderedReceipt,
    ctx: StepContext,
  ): Promise<CompleteTransition<OrderReceiptOutput>> {
    this.logger.log(
      `Run ${ctx.runId} order-receipt#emailReceipt attempt ${ctx.attempt}/${ctx.maxAttempts}: emailing receipt ${receiptId}`,
    );
    if (ctx.attempt === 1) {
      // Any thrown error is retried, with backoff, up to maxAttempts.
      throw new Error('SMTP server busy (simulated)');
    }
    await this.orders.update({ id: orderId }, { receiptId });
    this.logger.log(
      `Run ${ctx.runId} order-receipt#emailReceipt: receipt ${receiptId} emailed for order ${orderId}`,
    );
    return Transition.complete({ receiptId });
  }
}
