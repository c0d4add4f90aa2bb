import { Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import {
  Activity,
  ActivityError,
  CompleteTransition,
  currentActivity,
  NextTransition,
  Step,
  StepContext,
  Transition,
  Workflow,
} from '@underway/nestjs';
import { Repository } from 'typeorm';
import { SignupMetrics } from './signup-metrics.service';
import { User } from './user.entity';

/** Input of a `signup` run. */
export interface SignupInput {
  readonly userId: number;
}

/** What `resolve` hands to `sendWelcomeEmail`. */
export interface WelcomeInput {
  readonly userId: number;
  readonly email: string;
}

/**
 * Sends the welcome email of a new user. Enqueued by `UsersService.signup` in
 * the transaction that creates the user, so it runs only for users that exist.
 *
 * `resolve` reads the user's email through an activity, `ctx.call`: the first
 * execution of the step records the call and suspends (the run is `waiting`
 * and holds no worker slot), `lookup-email` runs as its own task with its own
 * retries, and then `resolve` runs again from the top, where `ctx.call`
 * returns the stored email at once. The log shows both executions.
 */
@Workflow({ name: 'signup' })
export class SignupWorkflow {
  private readonly logger = new Logger(SignupWorkflow.name);

  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly metrics: SignupMetrics,
  ) {}

  /** Durable name `lookup-email`: the method can be renamed safely. */
  @Activity({
    name: 'lookup-email',
    retry: { maxAttempts: 10, initialInterval: '500ms' },
  })
  async lookupEmail(userId: number): Promise<string> {
    const { runId, attempt, maxAttempts } = currentActivity();
    this.logger.log(
      `Run ${runId} signup activity lookup-email attempt ${attempt}/${maxAttempts}: reading user ${userId}`,
    );
    const user = await this.users.findOneBy({ id: userId });
    if (!user) {
      // Retrying cannot make the user appear: ctx.call throws
      // ActivityFailedError, which fails the run.
      throw ActivityError.fatal('missing_user', `No user with id ${userId}`);
    }
    return user.email;
  }

  /** Started with ctx.emit: runs once, beside the next step; its failure would not fail the run. */
  @Activity()
  trackSignupMetric(email: string): void {
    const count = this.metrics.recordSignup(email);
    this.logger.log(
      `Run ${currentActivity().runId} signup activity trackSignupMetric: ${count} signup(s) from ${email.split('@')[1]} so far`,
    );
  }

  @Step()
  async resolve(
    { userId }: SignupInput,
    ctx: StepContext<SignupWorkflow>,
  ): Promise<NextTransition<WelcomeInput>> {
    this.logger.log(
      `Run ${ctx.runId} signup#resolve attempt ${ctx.attempt}/${ctx.maxAttempts}: looking up the email of user ${userId} ` +
        '(the first execution suspends here until lookup-email has run; a replay gets the stored email at once)',
    );
    const email = await ctx.call('lookupEmail', userId); // typed: string
    // Only a replay gets here: on the first execution ctx.call never returns.
    this.logger.log(
      `Run ${ctx.runId} signup#resolve attempt ${ctx.attempt}: replayed with the stored email ${email}`,
    );
    await ctx.emit('trackSignupMetric', email); // durable fire-and-forget
    return Transition.next({ userId, email });
  }

  @Step({ retry: { maxAttempts: 3 } })
  sendWelcomeEmail(
    { userId, email }: WelcomeInput,
    ctx: StepContext,
  ): CompleteTransition<undefined> {
    // A real app would call its mail provider here, passing ctx.signal along.
    this.logger.log(
      `Run ${ctx.runId} signup#sendWelcomeEmail attempt ${ctx.attempt}/${ctx.maxAttempts}: welcome email sent to ${email} (user ${userId})`,
    );
    return Transition.complete();
  }
}
