import {
  ConflictException,
  Injectable,
  Logger,
  OnModuleDestroy,
} from '@nestjs/common';
import {
  ActivityCallDetails,
  AttemptDetails,
  WorkflowClient,
} from '@underway/nestjs';
import { PlaceOrderDto } from '../orders/dto/place-order.dto';
import { OrdersService } from '../orders/orders.service';
import { CreateUserDto } from '../users/dto/create-user.dto';
import { UsersService } from '../users/users.service';
import { ApprovalDemoService } from './approval-demo.service';

/** How the start-up demo ended. */
export type DemoOutcome = 'succeeded' | 'failed' | 'interrupted';

/** Far above the few seconds the demo takes; a stuck run fails the demo. */
const DEMO_TIMEOUT = '1m';

/**
 * Walks a newcomer through the library at start-up: signs a user up and places
 * orders through the same services as the HTTP endpoints, then waits for
 * their runs and logs how they went. One order is small and goes straight
 * through; two are large and wait for an approval (`ApprovalDemoService`):
 * one is approved through the app's HTTP endpoint, the other escalates.
 */
@Injectable()
export class DemoService implements OnModuleDestroy {
  private readonly logger = new Logger(DemoService.name);
  private stopping = false;
  private running = false;

  constructor(
    private readonly users: UsersService,
    private readonly orders: OrdersService,
    private readonly approvals: ApprovalDemoService,
    private readonly workflows: WorkflowClient,
  ) {}

  onModuleDestroy(): void {
    this.stopping = true;
    if (this.running) {
      this.logger.log(
        'Demo: stopping before its runs finished; they are stored in PostgreSQL and go on at the next start',
      );
    }
  }

  /** @param baseUrl where the app listens: the demo calls its own endpoints */
  async run(baseUrl: string): Promise<DemoOutcome> {
    this.running = true;
    try {
      return await this.signUpAndOrder(baseUrl);
    } finally {
      this.running = false;
    }
  }

  private async signUpAndOrder(baseUrl: string): Promise<DemoOutcome> {
    this.logger.log(
      'Demo: signing up a user and placing orders; each enqueues its workflow in the transaction that saves it',
    );
    try {
      const email = `ada.${Date.now()}@example.com`;
      const { user, run: signup } = await this.users.signup(
        new CreateUserDto(email, 'Ada Lovelace'),
      );
      this.logger.log(
        `Demo: user ${user.id} signed up; signup run ${signup.id} enqueued`,
      );
      await this.showRollback(email);

      const { order, run: receipt } = await this.orders.place(
        new PlaceOrderDto(email, 'Analytical Engine punch cards', 4_200),
      );
      this.logger.log(
        `Demo: order ${order.id} placed; order-receipt run ${receipt.id} enqueued ` +
          '(stop the app with Ctrl-C while the receipt renders, start it again, and the run goes on)',
      );

      const results = await Promise.allSettled([
        signup.result({ timeout: DEMO_TIMEOUT }).then(async () => {
          const details = await this.workflows.getRun(signup.id);
          this.logger.log(
            `Demo: signup run ${signup.id} succeeded; attempts: ${describeAttempts(details?.attempts ?? [])} ` +
              '(the suspension on ctx.call used no attempt); ' +
              `activity calls: ${describeCalls(details?.activityCalls ?? [])}`,
          );
        }),
        receipt.result({ timeout: DEMO_TIMEOUT }).then(async (output) => {
          const details = await this.workflows.getRun(receipt.id);
          this.logger.log(
            `Demo: order-receipt run ${receipt.id} succeeded with ${JSON.stringify(output)}; ` +
              `attempts: ${describeAttempts(details?.attempts ?? [])}`,
          );
        }),
        this.approvals.approve(email, baseUrl),
        this.approvals.escalate(email, baseUrl),
      ]);
      const failures = results.filter(
        (result): result is PromiseRejectedResult =>
          result.status === 'rejected',
      );
      for (const failure of failures) {
        this.reportFailure(failure.reason);
      }
      if (failures.length > 0) {
        return this.stopping ? 'interrupted' : 'failed';
      }
      this.logger.log('Demo: every workflow finished');
      return 'succeeded';
    } catch (err) {
      this.reportFailure(err);
      return this.stopping ? 'interrupted' : 'failed';
    }
  }

  /** A second signup with the same email fails, and its run goes with it. */
  private async showRollback(email: string): Promise<void> {
    try {
      await this.users.signup(new CreateUserDto(email, 'Ada again'));
      this.logger.warn(
        'Demo: a duplicate signup was accepted, which it should not be',
      );
    } catch (err) {
      if (!(err instanceof ConflictException)) {
        throw err;
      }
      this.logger.log(
        'Demo: a second signup with the same email was rolled back (409 Conflict), so no second signup run exists',
      );
    }
  }

  private reportFailure(err: unknown): void {
    if (this.stopping) {
      return; // announced by onModuleDestroy
    }
    this.logger.error(
      `Demo failed: ${err instanceof Error ? err.message : String(err)}`,
      err instanceof Error ? err.stack : undefined,
    );
  }
}

function describeAttempts(attempts: readonly AttemptDetails[]): string {
  return attempts
    .map(
      (a) =>
        `${a.stepName ?? `step ${a.stepIndex}`} #${a.attempt} ${a.state}` +
        (a.error ? ` (${a.error.message})` : ''),
    )
    .join(', ');
}

function describeCalls(calls: readonly ActivityCallDetails[]): string {
  return calls
    .map(
      (c) =>
        `${c.kind} ${c.name} ${c.state}` +
        (c.attempts.length > 0 ? ` after ${c.attempts.length} attempt(s)` : ''),
    )
    .join(', ');
}
