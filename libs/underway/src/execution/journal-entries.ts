import { isDeepStrictEqual } from 'node:util';
import { deserializePayload, serializePayload } from '../common/json-payload';
import type { RecordedCallRow } from '../engine/sql/read.sql';
import { newRunOf } from '../engine/new-run';
import type {
  ActivityDefinition,
  WorkflowDefinition,
} from '../discovery/workflow-definition';
import { ActivityFailedError } from '../errors/activity-failed.error';
import { ChildWorkflowFailedError } from '../errors/child-workflow-failed.error';
import { InvalidActivityCallError } from '../errors/invalid-activity-call.error';
import { describeValue } from '../errors/describe-value';
import type { EntryKind, NewActivityCall } from '../model/claim';
import {
  activeTraceCarrier,
  linkToSignalSender,
} from '../observability/signal-trace';
import type { RecordedCall } from './recorded-calls.cache';

// The kinds of a step's numbered durable entries (calls, emits, waits,
// sleeps, children): what each records the first time, and what its record
// means on a replay. StepJournal numbers them and runs them all alike.

/** The `ctx` methods that make a step's numbered entries. */
export type JournalApi =
  'call' | 'emit' | 'waitFor' | 'waitForAny' | 'sleep' | 'child' | 'startChild';

/** One entry a step makes, ready to be numbered. */
export interface EntrySpec {
  readonly kind: EntryKind;
  /** The durable name (an activity's, a child's workflow, a wait's signals), compared on replay. */
  readonly name: string;
  /** JSON text of its arguments, compared on replay (as JSON values). */
  readonly args: string;
  /** `false`: the arguments may differ on replay (a sleep's duration). */
  readonly compareArgs: boolean;
  /** What a replay with other arguments is said to do (`' with other arguments'`). */
  readonly otherArgs: string;
  /** The row to record the first time (its `callIndex` aside). */
  readonly fresh: Omit<NewActivityCall, 'callIndex'>;
  /**
   * The first time: `undefined`, the step suspends until the entry ends; else
   * the value its promise resolves with at once (an emit, a started child).
   */
  readonly freshValue?: { readonly value: unknown };
  /**
   * A replay: the value of a finished record (`undefined`: not finished, the
   * step suspends again). May throw: the step's rejection.
   */
  settled(recorded: RecordedCall): { readonly value: unknown } | undefined;
}

/** What a wait resolves with: the signal it took (its name, and its payload). */
export interface ReceivedSignal {
  readonly name: string;
  readonly payload: unknown;
}

/** How a recorded entry was made, for a replay's error message. */
export function describeEntry(
  entry: Pick<RecordedCallRow, 'kind' | 'name'>,
): string {
  switch (entry.kind) {
    case 'wait':
      return entry.name.includes('|')
        ? `ctx.waitForAny(${entry.name
            .split('|')
            .map((n) => `'${n}'`)
            .join(', ')})`
        : `ctx.waitFor('${entry.name}')`;
    case 'sleep':
      return 'ctx.sleep()';
    case 'child':
      return `ctx.child('${entry.name}')`;
    case 'start':
      return `ctx.startChild('${entry.name}')`;
    default:
      return `ctx.${entry.kind}('${entry.name}')`;
  }
}

/**
 * Whether a replay's arguments (`argsText`, as `serializePayload` wrote them)
 * are the recorded ones, compared as JSON values (the database writes keys in
 * its own order). A text found equal once is remembered with the record: a
 * step replayed n times compares each entry's arguments once, not n times.
 */
export function sameArguments(
  recorded: RecordedCall,
  argsText: string,
): boolean {
  if (recorded.matchedArgs === argsText) {
    return true;
  }
  if (
    !isDeepStrictEqual(
      deserializePayload(recorded.args),
      deserializePayload(argsText),
    )
  ) {
    return false;
  }
  recorded.matchedArgs = argsText;
  return true;
}

/** Entries that are not work: recorded with these, they are never claimed. */
const NOT_WORK = { maxAttempts: 1, leaseMs: 1 } as const;

/**
 * `ctx.call` / `ctx.emit` of the `@Activity` method `method`.
 * @throws InvalidActivityCallError, InvalidInputError, PayloadTooLargeError
 */
export function activityEntry(
  kind: 'call' | 'emit',
  definition: WorkflowDefinition,
  method: unknown,
  args: unknown[],
  maxPayloadBytes: number,
): EntrySpec {
  const activity: ActivityDefinition | undefined =
    typeof method === 'string' ? definition.activities.get(method) : undefined;
  if (!activity) {
    const named = typeof method === 'string' ? method : describeValue(method);
    throw new InvalidActivityCallError(definition.className, named, [
      ...definition.activities.keys(),
    ]);
  }
  const argsText = serializePayload(
    args,
    maxPayloadBytes,
    'activity arguments',
    `ctx.${kind}('${activity.method}')`,
  ) as string;
  return {
    kind,
    name: activity.name,
    args: argsText,
    compareArgs: true,
    otherArgs: ' with other arguments',
    fresh: {
      kind,
      name: activity.name,
      args: argsText,
      maxAttempts: activity.policy.retry.maxAttempts,
      leaseMs: activity.policy.leaseMs,
    },
    // An emit resolves at once, and its replay does not emit again.
    freshValue: kind === 'emit' ? { value: undefined } : undefined,
    settled: (recorded) => {
      if (kind === 'emit') {
        return { value: undefined };
      }
      switch (recorded.state) {
        case 'succeeded':
          return { value: deserializePayload(recorded.result) };
        case 'failed':
        case 'cancelled':
          throw new ActivityFailedError(
            activity.name,
            recorded.error?.code ?? recorded.state,
            recorded.error?.message ??
              `The call was ${recorded.state} before it finished.`,
          );
        default:
          return undefined; // still pending or running
      }
    },
  };
}

/**
 * `ctx.waitFor` / `ctx.waitForAny` of signals `names` (`timeoutMs`: `null`,
 * none): resolves with the signal taken (`ReceivedSignal`), or `null` on
 * timeout; the taking attempt's span links to the sender's.
 */
export function waitEntry(
  names: readonly string[],
  timeoutMs: number | null,
): EntrySpec {
  const name = names.join('|');
  const args = JSON.stringify(names);
  return {
    kind: 'wait',
    name,
    args,
    compareArgs: true,
    otherArgs: '',
    fresh: { kind: 'wait', name, args, ...NOT_WORK, delayMs: timeoutMs },
    settled: (recorded) => {
      switch (recorded.state) {
        case 'succeeded': {
          const taken = deserializePayload<{
            name: string;
            payload: unknown;
            trace?: Record<string, string> | null;
          }>(recorded.result);
          linkToSignalSender(taken.trace, taken.name);
          // A signal with no payload is stored as null (a null payload is refused at send).
          const signal: ReceivedSignal = {
            name: taken.name,
            payload: taken.payload ?? undefined,
          };
          return { value: signal };
        }
        case 'timed_out':
          return { value: null };
        default:
          return undefined; // still waiting
      }
    },
  };
}

/** `ctx.sleep(ms)`: ends once `ms` passed, counted from when it was first recorded. */
export function sleepEntry(ms: number): EntrySpec {
  return {
    kind: 'sleep',
    name: 'sleep',
    args: '[]',
    // A replay may compute another duration ("until 9 am"): the first one holds.
    compareArgs: false,
    otherArgs: '',
    fresh: {
      kind: 'sleep',
      name: 'sleep',
      args: '[]',
      ...NOT_WORK,
      delayMs: ms,
    },
    settled: (recorded) =>
      recorded.state === 'timed_out' ? { value: undefined } : undefined,
  };
}

/** A child checked and ready to record. */
export interface CheckedChild {
  readonly definition: WorkflowDefinition;
  /** JSON text of its input (`null`: none). */
  readonly input: string | null;
  readonly priority: number | undefined;
  readonly concurrencyKey: string | null;
  readonly parentClose: 'cancel' | 'abandon';
}

/**
 * `ctx.child` (`awaited`: resolves with the child's output, or throws
 * `ChildWorkflowFailedError`) and `ctx.startChild` (resolves with
 * `{ runId }` at once). The child's run is written with the entry, by the
 * step's outcome; its attempts continue the step's trace.
 */
export function childEntry(awaited: boolean, child: CheckedChild): EntrySpec {
  const kind = awaited ? 'child' : 'start';
  const name = child.definition.name;
  const args = `[${child.input ?? 'null'}]`;
  const run = newRunOf(child.definition, child.input, {
    priority: child.priority,
    concurrencyKey: child.concurrencyKey,
  });
  return {
    kind,
    name,
    args,
    compareArgs: true,
    otherArgs: ' with another input',
    fresh: {
      kind,
      name,
      args,
      ...NOT_WORK,
      delayMs: null,
      child: {
        run,
        parentClose: child.parentClose,
        traceContext: activeTraceCarrier(),
      },
    },
    freshValue: awaited ? undefined : { value: { runId: run.id } },
    settled: (recorded) => {
      const runId = recorded.child_run_id ?? '';
      if (!awaited) {
        return { value: { runId } };
      }
      switch (recorded.state) {
        case 'succeeded':
          return { value: deserializePayload(recorded.result) };
        case 'failed': {
          const error = recorded.error as {
            code?: string;
            message?: string;
            state?: string;
          } | null;
          throw new ChildWorkflowFailedError(
            runId,
            error?.state === 'cancelled' ? 'cancelled' : 'failed',
            error?.code ?? 'error',
            error?.message ?? 'The child run did not succeed.',
            name,
          );
        }
        default:
          return undefined; // the child still runs
      }
    },
  };
}
