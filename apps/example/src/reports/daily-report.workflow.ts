import { Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Step, StepContext, Transition, Workflow } from '@underway/nestjs';
import { Repository } from 'typeorm';
import { Order } from '../orders/order.entity';
import { User } from '../users/user.entity';

/** Input of a `daily-report` run: which period it sums up. */
export interface ReportInput {
  readonly period: string;
}

/**
 * A report of signups and orders, run by two schedules declared here and
 * synced at boot: every day at midnight in Paris, and every 10 seconds for the
 * demo, so that its fires show in the log. Every instance of the app may fire
 * them; each tick fires once.
 */
@Workflow({
  name: 'daily-report',
  schedule: [
    { cron: '@daily[Europe/Paris]', input: { period: 'the day' } },
    {
      cron: '*/10 * * * * *',
      key: 'demo',
      input: { period: 'the last 10 s (demo schedule)' },
      // A report still running when the next tick comes: skip that tick.
      overlap: 'skip',
    },
  ],
})
export class DailyReportWorkflow {
  private readonly logger = new Logger(DailyReportWorkflow.name);

  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    @InjectRepository(Order) private readonly orders: Repository<Order>,
  ) {}

  @Step()
  async summarize({ period }: ReportInput, ctx: StepContext) {
    const [users, orders] = await Promise.all([
      this.users.count(),
      this.orders.count(),
    ]);
    this.logger.log(
      `Run ${ctx.runId} daily-report for ${period}: ${users} user(s), ${orders} order(s) so far`,
    );
    return Transition.complete({ users, orders });
  }
}
