import { Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import {
  Activity,
  CompleteTransition,
  currentActivity,
  NextTransition,
  Step,
  StepContext,
  StepError,
  Transition,
  Workflow,
} from '@underway/nestjs';
import { Repository } from 'typeorm';
import { OrderApprovalConfig } from './order-approval.config';
import { Approval, ApprovalDecision } from './order-approval.signal';
import { Order } from './order.entity';
import { Receipt } from './receipt.entity';
import { ReceiptRenderer } from './receipt-renderer.service';

/** Input of an `order-receipt` run. */
export interface OrderReceiptInput {
  readonly orderId: number;
  /**
   * The order was at or above the approval threshold when it was placed.
   * Decided then and kept in the input, so that a change of threshold never
   * changes what a replay of `awaitApproval` does.
   */
  readonly approvalRequired: boolean;
}

/** What `renderReceipt` hands to `emailReceipt`. */
export interface RenderedReceipt {
  readonly orderId: number;
  readonly receiptId: string;
}

/** Output of a succeeded `order-receipt` run: the receipt, or who rejected the order. */
export type OrderReceiptOutput =
  { readonly receiptId: string } | { readonly rejectedBy: string };

/**
 * Waits for an approval when the order needs one, renders the order's
 * receipt, then emails it.
 *
 * `awaitApproval` waits for the `Approval` signal (`POST /orders/:id/approval`)
 * with `ctx.waitFor`: the run is `waiting`, holding no worker slot, until the
 * decision comes, then the step runs again from the top and the wait returns
 * it. With no decision within `ORDER_APPROVAL_TIMEOUT`, the wait returns
 * `null`: the step escalates (the `escalate-approval` activity records it on
 * the order and notifies a manager, once) and waits on, with no timeout.
 *
 * Each step is durable: once `renderReceipt` has returned, a restart goes on
 * with `emailReceipt` and never renders again. `renderReceipt` is transactional: the receipt row it stores
 * through `ctx.manager` commits with the run's move to the next step, or not
 * at all (a crash mid-step leaves no row, and the retry stores one). The
 * first email attempt fails on purpose, to show a retry.
 */
@Workflow({ name: 'order-receipt' })
export class OrderReceiptWorkflow {
  private readonly logger = new Logger(OrderReceiptWorkflow.name);

  constructor(
    @InjectRepository(Order) private readonly orders: Repository<Order>,
    private readonly approval: OrderApprovalConfig,
    private readonly renderer: ReceiptRenderer,
  ) {}

  /**
   * Marks a still undecided order `escalated`, in a transaction that the
   * activity's result commits: once, however often the step is replayed.
   */
  @Activity({ name: 'escalate-approval', transactional: true })
  async escalateApproval(orderId: number): Promise<boolean> {
    const { runId, manager } = currentActivity();
    // Only an order still awaiting: a decision that came in meanwhile stays,
    // and the step's next wait takes its signal at once (signals are buffered).
    const { affected } = await manager!.update(
      Order,
      { id: orderId, approval: 'awaiting' },
      { approval: 'escalated', escalatedAt: () => 'now()' },
    );
    this.logger.log(
      affected === 1
        ? `Run ${runId} order-receipt activity escalate-approval: no decision on order ${orderId} within ${this.approval.timeout}: ` +
            'escalated, a manager is notified (a real app would email one here)'
        : `Run ${runId} order-receipt activity escalate-approval: order ${orderId} was decided meanwhile: nothing to escalate`,
    );
    return affected === 1;
  }

  @Step()
  async awaitApproval(
    input: OrderReceiptInput,
    ctx: StepContext<OrderReceiptWorkflow>,
  ): Promise<
    NextTransition<OrderReceiptInput> | CompleteTransition<OrderReceiptOutput>
  > {
    const { orderId } = input;
    if (!input.approvalRequired) {
      this.logger.log(
        `Run ${ctx.runId} order-receipt#awaitApproval: order ${orderId} is under the approval threshold: no approval needed`,
      );
      return Transition.next(input);
    }
    this.logger.log(
      `Run ${ctx.runId} order-receipt#awaitApproval attempt ${ctx.attempt}/${ctx.maxAttempts}: order ${orderId} needs an approval, ` +
        `escalated after ${this.approval.timeout} without one (the first execution suspends until it comes; a replay gets it at once)`,
    );
    const decision =
      (await ctx.waitFor(Approval, { timeout: this.approval.timeoutMs })) ??
      (await this.escalate(orderId, ctx));
    if (!decision.approved) {
      this.logger.log(
        `Run ${ctx.runId} order-receipt#awaitApproval: order ${orderId} rejected by ${decision.by}: no receipt`,
      );
      return Transition.complete({ rejectedBy: decision.by });
    }
    this.logger.log(
      `Run ${ctx.runId} order-receipt#awaitApproval: order ${orderId} approved by ${decision.by}`,
    );
    return Transition.next(input);
  }

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

  /**
   * No decision in time: escalates once (a durable activity call, which
   * suspends the step until it has run), then waits for a manager's
   * decision, with no timeout.
   */
  private async escalate(
    orderId: number,
    ctx: StepContext<OrderReceiptWorkflow>,
  ): Promise<ApprovalDecision> {
    await ctx.call('escalateApproval', orderId);
    // Without a timeout the wait never resolves with null.
    return (await ctx.waitFor(Approval))!;
  }
}
