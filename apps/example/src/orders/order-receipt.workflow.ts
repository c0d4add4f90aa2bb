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
import { ReceiptRenderer } from './receipt-renderer.service';

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
    private readonly renderer: ReceiptRenderer,
  ) {}

  @Step({ transactional: true })
  async renderReceipt(
    { orderId }: OrderReceiptInput,
    ctx: StepContext,
  ): Promise<NextTransition<RenderedReceipt>> {
    this.logger.log(
      `Run ${ctx.runId} order-receipt#renderReceipt attempt ${ctx.attempt}/${ctx.maxAttempts}: rendering the receipt of order ${orderId} (takes ${this.renderer.renderTimeMs / 1000}s)`,
    );
    const order = await this.orders.findOneBy({ id: orderId });
    if (!order) {
      throw StepError.fatal('missing_order', `No order with id ${orderId}`);
    }
    // Stands in for PDF rendering (2 s). It honours ctx.signal, which aborts
    // on timeout, cancel, lost lease or shutdown.
    const receiptId = await this.renderer.render(order, ctx.signal);
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
