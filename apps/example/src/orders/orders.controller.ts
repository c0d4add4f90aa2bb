import {
  Body,
  Controller,
  HttpCode,
  Param,
  ParseIntPipe,
  Post,
} from '@nestjs/common';
import { ApprovalDecisionDto } from './dto/approval-decision.dto';
import { PlaceOrderDto } from './dto/place-order.dto';
import { Order } from './order.entity';
import { OrdersService, RecordedDecision } from './orders.service';

@Controller('orders')
export class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  /** Places an order; the response carries the id of the `order-receipt` run. */
  @Post()
  async place(@Body() body: unknown): Promise<{ order: Order; runId: string }> {
    const { order, run } = await this.orders.place(PlaceOrderDto.parse(body));
    return { order, runId: run.id };
  }

  /**
   * Approves or rejects an order that waits for a decision
   * (`{ "approved": true, "by": "max@example.com" }`); its run goes on. The
   * same decision sent again answers `duplicate: true` and changes nothing.
   */
  @Post(':id/approval')
  @HttpCode(200)
  decide(
    @Param('id', ParseIntPipe) id: number,
    @Body() body: unknown,
  ): Promise<RecordedDecision> {
    return this.orders.decide(id, ApprovalDecisionDto.parse(body));
  }
}
