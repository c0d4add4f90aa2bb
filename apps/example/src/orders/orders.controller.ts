import { Body, Controller, Post } from '@nestjs/common';
import { PlaceOrderDto } from './dto/place-order.dto';
import { Order } from './order.entity';
import { OrdersService } from './orders.service';

@Controller('orders')
export class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  /** Places an order; the response carries the id of the `order-receipt` run. */
  @Post()
  async place(@Body() body: unknown): Promise<{ order: Order; runId: string }> {
    const { order, run } = await this.orders.place(PlaceOrderDto.parse(body));
    return { order, runId: run.id };
  }
}
