import { ConflictException, Injectable } from '@nestjs/common';
import { WorkflowClient, WorkflowRun } from '@underway/nestjs';
import { DataSource } from 'typeorm';
import { isUniqueViolation } from '../common/is-unique-violation';
import { CreateUserDto } from './dto/create-user.dto';
import { SignupInput, SignupWorkflow } from './signup.workflow';
import { User } from './user.entity';

export interface Signup {
  readonly user: User;
  readonly run: WorkflowRun<undefined>;
}

@Injectable()
export class UsersService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly workflows: WorkflowClient,
  ) {}

  /**
   * Creates the user and enqueues its `signup` run in one transaction: if the
   * insert fails (say, the email is taken), the transaction rolls back and no
   * run exists; once it commits, the run is durable and a worker picks it up.
   *
   * @throws ConflictException when the email is taken
   */
  async signup(dto: CreateUserDto): Promise<Signup> {
    try {
      return await this.dataSource.transaction(async (manager) => {
        const user = await manager.save(
          manager.create(User, { email: dto.email, name: dto.name }),
        );
        const input: SignupInput = { userId: user.id };
        const run = await this.workflows.enqueue<undefined>(
          SignupWorkflow,
          input,
          { manager },
        );
        return { user, run };
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new ConflictException(
          `A user with email ${dto.email} already exists`,
        );
      }
      throw err;
    }
  }
}
