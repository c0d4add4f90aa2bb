import { Injectable } from '@nestjs/common';
import { WorkflowClient, WorkflowRun } from '@underway/nestjs';
import { DataSource } from 'typeorm';
import { PlaceOrderDto } from './dto/place-order.dto';
import { Order } from './order.entity';
import {
  OrderReceiptInput,
  OrderReceiptOutput,
  OrderReceiptWorkflow,
} from './order-receipt.workflow';

export interface PlacedOrder {
  readonly order: Order;
  readonly run: WorkflowRun<OrderReceiptOutput>;
}

@Injectable()
export class OrdersService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly workflows: WorkflowClient,
  ) {}

  /**
   * Saves the order and enqueues its `order-receipt` run in one transaction:
   * both exist, or neither does.
   */
  place(dto: PlaceOrderDto): Promise<PlacedOrder> {
    return this.dataSource.transaction(async (manager) => {
      const order = await manager.save(
        manager.create(Order, {
          customerEmail: dto.customerEmail,
          item: dto.item,
          amountCents: dto.amountCents,
          receiptId: null,
        }),
      );
      const input: OrderReceiptInput = { orderId: order.id };
      const run = await this.workflows.enqueue<OrderReceiptOutput>(
        OrderReceiptWorkflow,
        input,
        { manager },
      );
      return { order, run };
    });
  }
}
