import { Module } from '@nestjs/common';
import { OrdersModule } from '../orders/orders.module';
import { UsersModule } from '../users/users.module';
import { DemoService } from './demo.service';

@Module({
  imports: [UsersModule, OrdersModule],
  providers: [DemoService],
  exports: [DemoService],
})
export class DemoModule {}
