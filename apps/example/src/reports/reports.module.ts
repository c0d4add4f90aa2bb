import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Order } from '../orders/order.entity';
import { User } from '../users/user.entity';
import { DailyReportWorkflow } from './daily-report.workflow';

@Module({
  imports: [TypeOrmModule.forFeature([User, Order])],
  providers: [DailyReportWorkflow],
})
export class ReportsModule {}
