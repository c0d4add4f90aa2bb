import { Injectable, Logger } from '@nestjs/common';
import { WorkflowClient, WorkflowRun } from '@underway/nestjs';
import { PlaceOrderDto } from '../orders/dto/place-order.dto';
import { OrderApprovalConfig } from '../orders/order-approval.config';
import { ApprovalDecision } from '../orders/order-approval.signal';
import { OrderReceiptOutput } from '../orders/order-receipt.workflow';
import {
  OrdersService,
  PlacedOrder,
  RecordedDecision,
} from '../orders/orders.service';
import { RunWatcher } from './run.watcher';

/** Far above the few seconds a step takes: a stuck run fails the demo. */
const DEMO_TIMEOUT_MS = 60_000;

/** Decides on the demo's orders: never their customer (the four-eyes check). */
const APPROVER = 'max.approver@example.com';
const MANAGER = 'mia.manager@example.com';

/**
 * The demo's orders above the approval threshold: one is approved through
 * `POST /orders/:id/approval`, as a client of the app would do it; the other
 * gets no decision, escalates after `ORDER_APPROVAL_TIMEOUT`, and a manager
 * rejects it.
 */
@Injectable()
export class ApprovalDemoService {
  private readonly logger = new Logger(ApprovalDemoService.name);

  constructor(
    private readonly orders: OrdersService,
    private readonly approval: OrderApprovalConfig,
    private readonly watcher: RunWatcher,
    private readonly workflows: WorkflowClient,
  ) {}

  /**
   * The order waits; its customer's own approval is refused and rolled back,
   * with the signal sent in its transaction; an approver's goes through; the
   * same approval sent again is a duplicate.
   */
  async approve(customerEmail: string, baseUrl: string): Promise<void> {
    const { order, run } = await this.placeLargeOrder(
      customerEmail,
      'Difference Engine No. 2',
      125_000,
    );
    const wait = await this.watcher.until(
      run.id,
      // The wait is recorded as the step runs; the run waits once it suspended.
      (details) =>
        details.state === 'waiting'
          ? details.waits.find((w) => w.state === 'waiting')
          : undefined,
      DEMO_TIMEOUT_MS,
    );
    this.logger.log(
      `Demo: order-receipt run ${run.id} is waiting for '${wait.names.join("', '")}' until ${wait.deadline?.toISOString()}, ` +
        'holding no worker slot',
    );

    const refusal = await this.refused(
      baseUrl,
      order.id,
      { approved: true, by: customerEmail },
      422,
    );
    const after = await this.workflows.getRun(run.id);
    this.logger.log(
      `Demo: POST /orders/${order.id}/approval by its own customer: 422 (${refusal}); ` +
        `the signal sent in that transaction rolled back with it: the run is ${after?.state} with ${after?.signals.length} signal(s)`,
    );

    const decision = { approved: true, by: APPROVER };
    const approved = await this.decide(baseUrl, order.id, decision);
    this.logger.log(
      `Demo: POST /orders/${order.id}/approval by ${APPROVER}: 200; the order's row (${approved.order.approval}) ` +
        `and signal ${approved.signalId} committed in one transaction`,
    );
    const again = await this.decide(baseUrl, order.id, decision);
    this.logger.log(
      `Demo: the same approval sent again: 200, duplicate: ${again.duplicate} ` +
        `(signal ${again.signalId}, by the order's idempotency key): nothing changed`,
    );
    await this.finished(run, order.id);
  }

  /** The order waits in vain, escalates, and a manager rejects it. */
  async escalate(customerEmail: string, baseUrl: string): Promise<void> {
    const { order, run } = await this.placeLargeOrder(
      customerEmail,
      'Analytical Engine mill',
      98_000,
    );
    this.logger.log(
      `Demo: nobody decides on order ${order.id}: in ${this.approval.timeout} (ORDER_APPROVAL_TIMEOUT) it escalates`,
    );
    await this.watcher.until(
      run.id,
      (details) =>
        details.activityCalls.find(
          (c) => c.name === 'escalate-approval' && c.state === 'succeeded',
        ),
      this.approval.timeoutMs + DEMO_TIMEOUT_MS,
    );
    this.logger.log(
      `Demo: order ${order.id} escalated; ${MANAGER} rejects it: POST /orders/${order.id}/approval`,
    );
    await this.decide(baseUrl, order.id, { approved: false, by: MANAGER });
    await this.finished(run, order.id);
  }

  private async placeLargeOrder(
    customerEmail: string,
    item: string,
    amountCents: number,
  ): Promise<PlacedOrder> {
    const placed = await this.orders.place(
      new PlaceOrderDto(customerEmail, item, amountCents),
    );
    this.logger.log(
      `Demo: order ${placed.order.id} (${money(amountCents)}) is at or above the approval threshold (${money(this.approval.thresholdCents)}): ` +
        `order-receipt run ${placed.run.id} waits for an approval`,
    );
    return placed;
  }

  private async finished(
    run: WorkflowRun<OrderReceiptOutput>,
    orderId: number,
  ): Promise<void> {
    const output = await run.result({ timeout: DEMO_TIMEOUT_MS });
    this.logger.log(
      `Demo: order-receipt run ${run.id} of order ${orderId} succeeded with ${JSON.stringify(output)}`,
    );
  }

  /**
   * Sends `decision` through the app's own endpoint, as a client would.
   *
   * @throws Error when it is refused
   */
  private async decide(
    baseUrl: string,
    orderId: number,
    decision: ApprovalDecision,
  ): Promise<RecordedDecision> {
    const { status, body } = await post(baseUrl, orderId, decision);
    if (status !== 200) {
      throw new Error(
        `POST /orders/${orderId}/approval answered ${status}: ${JSON.stringify(body)}`,
      );
    }
    return body as RecordedDecision;
  }

  /**
   * Sends `decision`, which the endpoint must refuse with `expected`.
   *
   * @returns the refusal's message
   * @throws Error when it answers otherwise
   */
  private async refused(
    baseUrl: string,
    orderId: number,
    decision: ApprovalDecision,
    expected: number,
  ): Promise<string> {
    const { status, body } = await post(baseUrl, orderId, decision);
    if (status !== expected) {
      throw new Error(
        `POST /orders/${orderId}/approval answered ${status}, not ${expected}: ${JSON.stringify(body)}`,
      );
    }
    return String((body as { message?: unknown }).message);
  }
}

async function post(
  baseUrl: string,
  orderId: number,
  decision: ApprovalDecision,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${baseUrl}/orders/${orderId}/approval`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(decision),
  });
  return { status: response.status, body: await response.json() };
}

function money(cents: number): string {
  return (cents / 100).toFixed(2);
}
