import { describeValue } from '../common/describe-value';
import { storableText } from '../common/storable-text';
import { InvalidInputError } from './invalid-input.error';
import { InvalidOptionsError } from './invalid-options.error';
import { PayloadTooLargeError } from './payload-too-large.error';
import { StepError } from './step.error';
import { StepTimeoutError } from './step-timeout.error';
import { UnderwayError } from './underway.error';

/** An error as stored with an attempt (`step_attempt.error`, `workflow_run.error`). */
export interface ErrorRecord {
  /** `'timeout'`, a `StepError` code, an Underway code, or `'error'`. */
  readonly code: string;
  readonly message: string;
  /** The thrown value's class name, or its `typeof` for non-Error values. */
  readonly name: string;
  readonly retryable: boolean;
}

const MAX_MESSAGE_LENGTH = 2_000;
const MAX_CODE_LENGTH = 200;

/**
 * The one place that decides what a thrown value means: fatal or retryable, and
 * the code and message recorded for it. Any value can be thrown, so nothing here
 * assumes an `Error`.
 */
export function classifyError(thrown: unknown): ErrorRecord {
  if (thrown instanceof StepTimeoutError) {
    return record('timeout', thrown.message, thrown.name, true);
  }
  if (thrown instanceof StepError) {
    return record(thrown.code, thrown.message, thrown.name, thrown.retryable);
  }
  if (
    thrown instanceof InvalidInputError ||
    thrown instanceof PayloadTooLargeError ||
    thrown instanceof InvalidOptionsError
  ) {
    // A step that passes bad data or options will pass them again on retry.
    return record(thrown.code, thrown.message, thrown.name, false);
  }
  if (thrown instanceof UnderwayError) {
    return record(thrown.code, thrown.message, thrown.name, true);
  }
  if (thrown instanceof Error) {
    return record('error', thrown.message || thrown.name, thrown.name, true);
  }
  return record(
    'error',
    describeNonError(thrown),
    thrown === null ? 'null' : typeof thrown,
    true,
  );
}

/** A fatal error record, for failures decided by Underway itself. */
export function fatalError(code: string, message: string): ErrorRecord {
  return record(code, message, 'UnderwayError', false);
}

function record(
  code: string,
  message: string,
  name: string,
  retryable: boolean,
): ErrorRecord {
  // A message may hold anything a step threw: make it storable, or the batch
  // that carries it (with other runs' outcomes) would be refused.
  return {
    code: storableText(code, MAX_CODE_LENGTH),
    message: storableText(message, MAX_MESSAGE_LENGTH),
    name: storableText(name, MAX_CODE_LENGTH),
    retryable,
  };
}

function describeNonError(thrown: unknown): string {
  if (thrown === undefined || thrown === null) {
    return `A step threw ${String(thrown)}`;
  }
  if (typeof thrown === 'string') {
    return thrown;
  }
  try {
    const json = JSON.stringify(thrown);
    if (json !== undefined) {
      return `Non-Error value thrown: ${json}`;
    }
  } catch {
    // circular or BigInt-holding object: fall through to String()
  }
  return `Non-Error value thrown: ${describeValue(thrown)}`;
}
