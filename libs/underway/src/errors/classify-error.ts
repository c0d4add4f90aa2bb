import { describeValue } from './describe-value';
import { ActivityError } from './activity.error';
import { ActivityFailedError } from './activity-failed.error';
import { ChildWorkflowFailedError } from './child-workflow-failed.error';
import { CallOutsideStepError } from './call-outside-step.error';
import { InvalidActivityCallError } from './invalid-activity-call.error';
import { NonDeterministicReplayError } from './non-deterministic-replay.error';
import { OwnRunLockError } from './own-run-lock.error';
import { storableText } from './storable-text';
import { InvalidInputError } from './invalid-input.error';
import { InvalidOptionsError } from './invalid-options.error';
import { PayloadTooLargeError } from './payload-too-large.error';
import { StepError } from './step.error';
import { StepTimeoutError } from './step-timeout.error';
import { TransactionControlError } from './transaction-control.error';
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
 * assumes an `Error`, and nothing here throws: a value whose `message`, `code`
 * or `toString` cannot be read (a throwing getter, a revoked Proxy, a
 * `StepError` given a non-string code) is still recorded, honestly, rather
 * than leave its attempt to end as a lapsed lease.
 */
export function classifyError(thrown: unknown): ErrorRecord {
  try {
    return classify(thrown);
  } catch {
    return record(
      'error',
      'A step threw a value that could not be read (its properties throw when accessed)',
      'unknown',
      true,
    );
  }
}

function classify(thrown: unknown): ErrorRecord {
  if (thrown instanceof StepTimeoutError) {
    return record('timeout', thrown.message, thrown.name, true);
  }
  if (thrown instanceof StepError || thrown instanceof ActivityError) {
    const kind = thrown instanceof StepError ? 'StepError' : 'ActivityError';
    return record(
      readText(() => thrown.code) || 'error',
      readText(() => thrown.message) || `${kind} without a message`,
      readText(() => thrown.name) || kind,
      thrown.retryable !== false,
    );
  }
  if (
    // A failed call replays as failed; a replay or a call that does not
    // match the code will not match it on retry either.
    thrown instanceof ActivityFailedError ||
    thrown instanceof ChildWorkflowFailedError ||
    thrown instanceof NonDeterministicReplayError ||
    thrown instanceof InvalidActivityCallError ||
    // An activity that uses a step's kept ctx will use it again on retry.
    thrown instanceof CallOutsideStepError ||
    thrown instanceof InvalidInputError ||
    thrown instanceof PayloadTooLargeError ||
    thrown instanceof InvalidOptionsError ||
    // A step that ends its own transaction, or locks its own run, will do
    // it again on retry.
    thrown instanceof TransactionControlError ||
    thrown instanceof OwnRunLockError
  ) {
    // A step that passes bad data or options will pass them again on retry.
    return record(thrown.code, thrown.message, thrown.name, false);
  }
  if (thrown instanceof UnderwayError) {
    return record(thrown.code, thrown.message, thrown.name, true);
  }
  if (thrown instanceof Error) {
    const name = readText(() => thrown.name) || 'Error';
    const message = readText(() => thrown.message);
    return record(
      'error',
      message ||
        (message === undefined ? `${name} whose message cannot be read` : name),
      name,
      true,
    );
  }
  return record(
    'error',
    describeNonError(thrown),
    thrown === null ? 'null' : typeof thrown,
    true,
  );
}

/**
 * A property that should be text: itself when it is a string, `''` when it is
 * missing, its `String()` otherwise; `undefined` when reading it throws.
 */
function readText(read: () => unknown): string | undefined {
  try {
    const value = read();
    if (typeof value === 'string') {
      return value;
    }
    if (value === undefined || value === null) {
      return '';
    }
    switch (typeof value) {
      case 'number':
      case 'boolean':
      case 'bigint':
        return String(value);
      default:
        return describeValue(value);
    }
  } catch {
    return undefined;
  }
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
    // circular or BigInt-holding object, or a throwing toJSON: fall through
  }
  try {
    return `Non-Error value thrown: ${describeValue(thrown)}`;
  } catch {
    return `Non-Error value thrown: ${typeof thrown} that cannot be read`;
  }
}
