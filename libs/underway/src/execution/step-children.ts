import { isInt32, nameProblem } from '../common/limits';
import { serializePayload } from '../common/json-payload';
import { ownOptions } from '../common/options-object';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { describeValue } from '../errors/describe-value';
import { ConcurrencyDeadlockError } from '../errors/concurrency-deadlock.error';
import { childEntry, CheckedChild } from './journal-entries';
import type { ChildSource, StepJournal } from './step-journal';

/** The options of `ctx.child` and `ctx.startChild`. */
export interface ChildOptions {
  /** The child's priority (default: its workflow's). */
  readonly priority?: number;
  /** The child's concurrency key; never the key its parent holds (`ConcurrencyDeadlockError`). */
  readonly concurrencyKey?: string;
  /**
   * What the parent's end does to the child while it runs: `'cancel'`
   * (default: cancelling or failing the parent cancels it, and its own
   * children, recursively) or `'abandon'` (it runs on).
   */
  readonly parentClose?: 'cancel' | 'abandon';
}

const CHILD_KEYS = [
  'priority',
  'concurrencyKey',
  'parentClose',
  'idempotencyKey',
] as const;

/**
 * Checks a child before anything is recorded: its workflow (registered
 * here), input (JSON, bounded) and options.
 * @throws WorkflowNotRegisteredError, InvalidInputError, PayloadTooLargeError, InvalidOptionsError
 */
export function checkChild(
  source: ChildSource | undefined,
  api: 'child' | 'startChild',
  workflow: unknown,
  input: unknown,
  options: unknown,
  maxPayloadBytes: number,
): CheckedChild {
  if (!source) {
    throw new InvalidOptionsError(api, 'children cannot be started here');
  }
  const definition = source.definitionOf(workflow);
  const { priority, concurrencyKey, parentClose, idempotencyKey } = ownOptions(
    options,
    CHILD_KEYS,
    `a ctx.${api}`,
  );
  if (idempotencyKey !== undefined) {
    throw new InvalidOptionsError(
      'idempotencyKey',
      `is not supported by ctx.${api} yet: a step's child is enqueued once already (a replay never enqueues it again)`,
    );
  }
  if (priority !== undefined && !isInt32(priority)) {
    throw new InvalidOptionsError(
      'priority',
      `must be an integer, got ${describeValue(priority)}`,
    );
  }
  if (concurrencyKey !== undefined) {
    const problem = nameProblem(concurrencyKey);
    if (problem !== undefined) {
      throw new InvalidOptionsError('concurrencyKey', problem);
    }
  }
  if (
    parentClose !== undefined &&
    parentClose !== 'cancel' &&
    parentClose !== 'abandon'
  ) {
    throw new InvalidOptionsError(
      'parentClose',
      `must be 'cancel' or 'abandon', got ${JSON.stringify(parentClose)}`,
    );
  }
  return {
    definition,
    input: serializePayload(
      input,
      maxPayloadBytes,
      'input',
      `ctx.${api}('${definition.name}')`,
    ),
    priority: priority,
    concurrencyKey: (concurrencyKey as string | undefined) ?? null,
    parentClose: parentClose ?? 'cancel',
  };
}

/**
 * `ctx.child` (`awaited`) / `ctx.startChild`: checks the child, refuses one
 * that asks for the key its parent holds (nothing recorded), and makes the
 * entry.
 */
export function startChild(
  journal: StepJournal,
  awaited: boolean,
  runId: string,
  source: ChildSource | undefined,
  maxPayloadBytes: number,
  workflow: unknown,
  input: unknown,
  options: unknown,
): Promise<unknown> {
  const api = awaited ? 'child' : 'startChild';
  const label =
    typeof workflow === 'string'
      ? workflow
      : ((workflow as { name?: string } | null)?.name ?? 'workflow');
  return journal.enter(api, label, () => {
    const child = checkChild(
      source,
      api,
      workflow,
      input,
      options,
      maxPayloadBytes,
    );
    const held = source?.concurrencyKey ?? null;
    if (held !== null && child.concurrencyKey === held) {
      return {
        reject: new ConcurrencyDeadlockError(
          runId,
          held,
          child.definition.name,
        ),
      };
    }
    return childEntry(awaited, child);
  });
}
