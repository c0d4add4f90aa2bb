import { BadRequestException } from '@nestjs/common';
import { readBody, requireString } from '../../common/read-body';

/** Body of `POST /users`. */
export class CreateUserDto {
  constructor(
    readonly email: string,
    readonly name: string,
  ) {}

  /** Validates a request body (the example keeps to Nest core: no class-validator). */
  static parse(body: unknown): CreateUserDto {
    const fields = readBody(body);
    const email = requireString(fields, 'email').toLowerCase();
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) {
      throw new BadRequestException('"email" must be an email address');
    }
    return new CreateUserDto(email, requireString(fields, 'name'));
  }
}
