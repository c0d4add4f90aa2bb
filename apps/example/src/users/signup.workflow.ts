import { Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import {
  CompleteTransition,
  Step,
  StepContext,
  StepError,
  Transition,
  Workflow,
} from '@underway/nestjs';
import { Repository } from 'typeorm';
import { User } from './user.entity';

/** Input of a `signup` run. */
export interface SignupInput {
  readonly userId: number;
}

/**
 * Sends the welcome email of a new user. Enqueued by `UsersService.signup` in
 * the transaction that creates the user, so it runs only for users that exist.
 */
@Workflow({ name: 'signup' })
export class SignupWorkflow {
  private readonly logger = new Logger(SignupWorkflow.name);

  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
  ) {}

  @Step()
  async sendWelcomeEmail(
    { userId }: SignupInput,
    ctx: StepContext,
  ): Promise<CompleteTransition<undefined>> {
    this.logger.log(
      `Run ${ctx.runId} signup#sendWelcomeEmail attempt ${ctx.attempt}/${ctx.maxAttempts}: sending the welcome email of user ${userId}`,
    );
    const user = await this.users.findOneBy({ id: userId });
    if (!user) {
      // Retrying cannot make the user appear: fail the run now.
      throw StepError.fatal('missing_user', `No user with id ${userId}`);
    }
    // A real app would call its mail provider here, passing ctx.signal along.
    this.logger.log(
      `Run ${ctx.runId} signup#sendWelcomeEmail: welcome email sent to user ${user.id}`,
    );
    return Transition.complete();
  }
}
