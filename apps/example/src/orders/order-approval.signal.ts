import { defineSignal } from '@underway/nestjs';

/** An approver's decision on an order at or above the approval threshold. */
export interface ApprovalDecision {
  readonly approved: boolean;
  /** Who decided: an email address, lower-cased. */
  readonly by: string;
}

/**
 * Sent by `POST /orders/:id/approval` (`OrdersService.decide`), awaited by
 * the `awaitApproval` step of the order's `order-receipt` run. The name is
 * durable: it is stored with each signal and wait.
 */
export const Approval = defineSignal<ApprovalDecision>('approval');

/**
 * The idempotency key of an order's `order-receipt` run: the approval
 * endpoint finds the run by it, so the order's row need not store the run id.
 */
export function receiptRunKey(orderId: number): string {
  return `order-${orderId}`;
}

/**
 * The idempotency key of an order's approval signal: an order is decided
 * once, and a resend of the decision (a double click, a retried request) is
 * a duplicate that changes nothing.
 */
export function approvalSignalKey(orderId: number): string {
  return `order-${orderId}-approval`;
}
