import {
  BadRequestException,
  ConflictException,
  NotFoundException,
} from '@nestjs/common';
import { InvalidInputError } from '../errors/invalid-input.error';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { PayloadTooLargeError } from '../errors/payload-too-large.error';
import { RunFinishedError } from '../errors/run-finished.error';
import { RunNotFoundError } from '../errors/run-not-found.error';
import { RunNotRetryableError } from '../errors/run-not-retryable.error';
import { WorkflowNotRegisteredError } from '../errors/workflow-not-registered.error';

/** The longest queue name the client accepts. */
const MAX_QUEUE_LENGTH = 255;

/** `?queue=`: given once. */
export function queueParam(queue: unknown): string {
  if (typeof queue !== 'string') {
    throw new BadRequestException('queue must be given once, as text.');
  }
  return checkQueue(queue);
}

export function checkQueue(queue: string): string {
  if (queue.length === 0 || queue.length > MAX_QUEUE_LENGTH) {
    throw new NotFoundException(`No dead-letter queue "${queue}".`);
  }
  return queue;
}

/** The refusals of the client, as HTTP answers; anything else stays a 500. */
export function asHttpError(err: unknown): unknown {
  if (err instanceof RunNotFoundError) {
    return new NotFoundException(err.message);
  }
  if (
    err instanceof RunNotRetryableError ||
    err instanceof RunFinishedError ||
    err instanceof WorkflowNotRegisteredError
  ) {
    return new ConflictException(err.message);
  }
  if (
    err instanceof InvalidOptionsError ||
    err instanceof InvalidInputError ||
    err instanceof PayloadTooLargeError
  ) {
    return new BadRequestException(err.message);
  }
  return err;
}
