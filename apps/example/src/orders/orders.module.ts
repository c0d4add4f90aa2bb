import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { OrderApprovalConfig } from './order-approval.config';
import { Order } from './order.entity';
import { Receipt } from './receipt.entity';
import { OrderReceiptWorkflow } from './order-receipt.workflow';
import { OrdersController } from './orders.controller';
import { OrdersService } from './orders.service';
import { ReceiptRenderer } from './receipt-renderer.service';

@Module({
  imports: [TypeOrmModule.forFeature([Order, Receipt])],
  controllers: [OrdersController],
  providers: [
    {
      provide: OrderApprovalConfig,
      useFactory: () => OrderApprovalConfig.fromEnv(process.env),
    },
    OrdersService,
    OrderReceiptWorkflow,
    ReceiptRenderer,
  ],
  exports: [OrdersService, OrderApprovalConfig],
})
export class OrdersModule {}
