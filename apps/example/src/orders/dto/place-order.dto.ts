import { BadRequestException } from '@nestjs/common';
import { readBody, requireString } from '../../common/read-body';

/** Body of `POST /orders`. */
export class PlaceOrderDto {
  constructor(
    readonly customerEmail: string,
    readonly item: string,
    readonly amountCents: number,
  ) {}

  /** Validates a request body (the example keeps to Nest core: no class-validator). */
  static parse(body: unknown): PlaceOrderDto {
    const fields = readBody(body);
    const amountCents = fields.amountCents;
    if (
      typeof amountCents !== 'number' ||
      !Number.isInteger(amountCents) ||
      amountCents <= 0 ||
      amountCents > 100_000_000
    ) {
      throw new BadRequestException('"amountCents" must be a positive integer');
    }
    return new PlaceOrderDto(
      requireString(fields, 'customerEmail').toLowerCase(),
      requireString(fields, 'item'),
      amountCents,
    );
  }
}
