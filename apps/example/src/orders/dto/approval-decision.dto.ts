import { BadRequestException } from '@nestjs/common';
import { readBody, requireString } from '../../common/read-body';
import { ApprovalDecision } from '../order-approval.signal';

/** Body of `POST /orders/:id/approval`: `{ "approved": true, "by": "max@example.com" }`. */
export class ApprovalDecisionDto implements ApprovalDecision {
  constructor(
    readonly approved: boolean,
    readonly by: string,
  ) {}

  /** Validates a request body (the example keeps to Nest core: no class-validator). */
  static parse(body: unknown): ApprovalDecisionDto {
    const fields = readBody(body);
    if (typeof fields.approved !== 'boolean') {
      throw new BadRequestException('"approved" must be true or false');
    }
    const by = requireString(fields, 'by').toLowerCase();
    if (!/^[^\s@]+@[^\s@]+$/.test(by)) {
      throw new BadRequestException('"by" must be an email address');
    }
    return new ApprovalDecisionDto(fields.approved, by);
  }
}
