import { Module } from '@nestjs/common';
import { OrdersModule } from '../orders/orders.module';
import { UsersModule } from '../users/users.module';
import { ApprovalDemoService } from './approval-demo.service';
import { DemoService } from './demo.service';
import { RunWatcher } from './run.watcher';

@Module({
  imports: [UsersModule, OrdersModule],
  providers: [DemoService, ApprovalDemoService, RunWatcher],
  exports: [DemoService],
})
export class DemoModule {}
