import { describeValue } from '../common/describe-value';
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
  if (thrown instanceof UnderwayError) {
    return record(thrown.code, thrown.message, thrown.name, true);
  }
  if (thrown instanceof Error) {
    return record('error', thrown.message || thrown.name, thrown.name, true);
  }
  return record('error', describeNonError(thrown), typeof thrown, true);
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
  const trimmed =
    message.length > MAX_MESSAGE_LENGTH
      ? `${message.slice(0, MAX_MESSAGE_LENGTH)}…`
      : message;
  return { code, message: trimmed, name, retryable };
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
