import { Body, Controller, Post } from '@nestjs/common';
import { CreateUserDto } from './dto/create-user.dto';
import { User } from './user.entity';
import { UsersService } from './users.service';

@Controller('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  /** Signs a user up; the response carries the id of the `signup` run. */
  @Post()
  async create(@Body() body: unknown): Promise<{ user: User; runId: string }> {
    const { user, run } = await this.users.signup(CreateUserDto.parse(body));
    return { user, runId: run.id };
  }
}
