import {
  ConflictException,
  Injectable,
  NotFoundException,
  UnprocessableEntityException,
} from '@nestjs/common';
import {
  RunFinishedError,
  WorkflowClient,
  WorkflowRun,
} from '@underway/nestjs';
import { DataSource } from 'typeorm';
import { isCheckViolation } from '../common/is-check-violation';
import { PlaceOrderDto } from './dto/place-order.dto';
import { OrderApprovalConfig } from './order-approval.config';
import {
  Approval,
  ApprovalDecision,
  approvalSignalKey,
  receiptRunKey,
} from './order-approval.signal';
import { FOUR_EYES_CHECK, Order } from './order.entity';
import {
  OrderReceiptInput,
  OrderReceiptOutput,
  OrderReceiptWorkflow,
} from './order-receipt.workflow';

export interface PlacedOrder {
  readonly order: Order;
  readonly run: WorkflowRun<OrderReceiptOutput>;
}

export interface RecordedDecision {
  readonly order: Order;
  /** The `Approval` signal sent to the order's run. */
  readonly signalId: string;
  /** A resend of the decision already recorded: nothing changed. */
  readonly duplicate: boolean;
}

@Injectable()
export class OrdersService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly workflows: WorkflowClient,
    private readonly approval: OrderApprovalConfig,
  ) {}

  /**
   * Saves the order and enqueues its `order-receipt` run in one transaction:
   * both exist, or neither does. An order at or above the approval threshold
   * is saved `awaiting` approval, and its run waits for one.
   */
  place(dto: PlaceOrderDto): Promise<PlacedOrder> {
    const approvalRequired = this.approval.requiresApproval(dto.amountCents);
    return this.dataSource.transaction(async (manager) => {
      const order = await manager.save(
        manager.create(Order, {
          customerEmail: dto.customerEmail,
          item: dto.item,
          amountCents: dto.amountCents,
          approval: approvalRequired ? 'awaiting' : 'not_required',
          decidedBy: null,
          decidedAt: null,
          escalatedAt: null,
          receiptId: null,
        }),
      );
      const input: OrderReceiptInput = { orderId: order.id, approvalRequired };
      const run = await this.workflows.enqueue<OrderReceiptOutput>(
        OrderReceiptWorkflow,
        input,
        { manager, idempotencyKey: receiptRunKey(order.id) },
      );
      return { order, run };
    });
  }

  /**
   * Records a decision on an order and sends it to the order's run as the
   * `Approval` signal, in one transaction: the order's row says `approved`
   * (or `rejected`) and the run has the signal, or neither. The signal's
   * idempotency key comes from the order, so a resend of the same decision
   * is a duplicate, even once the run has finished.
   *
   * @throws NotFoundException for an unknown order
   * @throws ConflictException for an order that needs no approval, or was
   *   decided otherwise already
   * @throws UnprocessableEntityException when the customer decides on their
   *   own order (the database's four-eyes check, after the signal: the
   *   rollback takes the signal with it)
   */
  async decide(
    orderId: number,
    decision: ApprovalDecision,
  ): Promise<RecordedDecision> {
    try {
      return await this.dataSource.transaction(async (manager) => {
        // Locked: two decisions on one order are taken one after the other.
        const order = await manager.findOne(Order, {
          where: { id: orderId },
          lock: { mode: 'pessimistic_write' },
        });
        if (!order) {
          throw new NotFoundException(`No order with id ${orderId}`);
        }
        checkDecidable(order, decision);
        const sent = await this.workflows.signal(
          {
            workflow: OrderReceiptWorkflow,
            idempotencyKey: receiptRunKey(orderId),
          },
          Approval,
          { approved: decision.approved, by: decision.by },
          { manager, idempotencyKey: approvalSignalKey(orderId) },
        );
        if (!sent.duplicate) {
          // Written after the signal, which says whether this is a resend.
          // The row's four-eyes check can still refuse it: then the whole
          // transaction rolls back, the signal with it, and the run never
          // sees a decision.
          order.approval = decision.approved ? 'approved' : 'rejected';
          order.decidedBy = decision.by;
          order.decidedAt = new Date();
          await manager.save(order);
        }
        return { order, signalId: sent.signalId, duplicate: sent.duplicate };
      });
    } catch (err) {
      if (isCheckViolation(err, FOUR_EYES_CHECK)) {
        throw new UnprocessableEntityException(
          `${decision.by} placed order ${orderId}, and cannot decide on it: someone else must`,
        );
      }
      if (err instanceof RunFinishedError) {
        throw new ConflictException(
          `The run of order ${orderId} has finished: it takes no decision any more`,
        );
      }
      throw err;
    }
  }
}

/** @throws ConflictException when `decision` cannot be recorded on `order` */
function checkDecidable(order: Order, decision: ApprovalDecision): void {
  if (order.approval === 'not_required') {
    throw new ConflictException(`Order ${order.id} needs no approval`);
  }
  const decided =
    order.approval === 'approved' || order.approval === 'rejected';
  const same =
    order.approval === (decision.approved ? 'approved' : 'rejected') &&
    order.decidedBy === decision.by;
  if (decided && !same) {
    throw new ConflictException(
      `Order ${order.id} was ${order.approval} by ${order.decidedBy} already`,
    );
  }
}
