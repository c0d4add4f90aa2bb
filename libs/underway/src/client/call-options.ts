import type { EntityManager } from 'typeorm';
import { describeValue } from '../errors/describe-value';
import { zoneOptionHint } from '../common/cron-expression';
import { parseDuration } from '../common/duration';
import {
  INT32_MAX,
  INT32_MIN,
  isInt32,
  MAX_DEAD_LETTER_LIMIT,
  MAX_RUN_AT_MS,
  MIN_RUN_AT_MS,
  nameProblem,
} from '../common/limits';
import { isUuid } from '../common/uuid';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import {
  describeOptions,
  isObject,
  ownOptions,
} from '../common/options-object';

/*
 * The options of every client call, checked at the call site before anything
 * is written: unknown keys are refused (a misspelt `runIds` must not redrive
 * everything), every value is bounded where it is parsed, and the rest of the
 * client reads only what these functions return.
 */

/** The options of `enqueue()` / `enqueueMany()`, checked. */
export interface CheckedEnqueueOptions {
  readonly manager: EntityManager | undefined;
  /** From `delay`; `undefined`: the first step's own delay (or none with `runAt`). */
  readonly delayMs: number | undefined;
  /** A copy of `runAt`, so that what was checked is what is written. */
  readonly runAt: Date | undefined;
  readonly priority: number | undefined;
  readonly concurrencyKey: string | null;
  readonly idempotencyKey: string | null;
}

/** The options of `redrive()` / `getDeadLetters()`, checked. */
export interface CheckedDeadLetterOptions {
  readonly manager: EntityManager | undefined;
  readonly runIds: string[] | null;
  readonly limit: number;
}

const ENQUEUE_KEYS = [
  'manager',
  'delay',
  'runAt',
  'priority',
  'concurrencyKey',
  'idempotencyKey',
] as const;
const ENQUEUE_MANY_KEYS = [
  'manager',
  'delay',
  'runAt',
  'priority',
  'concurrencyKey',
] as const;
const DEAD_LETTER_KEYS = ['runIds', 'limit', 'manager'] as const;
const CANCEL_KEYS = ['manager'] as const;
const RESULT_KEYS = ['timeout'] as const;
const SCHEDULE_KEYS = ['key', 'overlap', 'manager'] as const;
const UNSCHEDULE_KEYS = ['key', 'manager'] as const;
/** The key of a schedule given none. */
const DEFAULT_SCHEDULE_KEY = 'default';

/** `limit` of `redrive()` / `getDeadLetters()` when none is given. */
const DEFAULT_DEAD_LETTER_LIMIT = 100;

/** @throws InvalidOptionsError */
export function checkEnqueueOptions(options: unknown): CheckedEnqueueOptions {
  return enqueueOptions(ownOptions(options, ENQUEUE_KEYS, 'an enqueue'));
}

/** Like `checkEnqueueOptions`, without `idempotencyKey`. @throws InvalidOptionsError */
export function checkEnqueueManyOptions(
  options: unknown,
): CheckedEnqueueOptions {
  if (
    isObject(options) &&
    Object.prototype.hasOwnProperty.call(options, 'idempotencyKey')
  ) {
    throw new InvalidOptionsError(
      'idempotencyKey',
      'is not supported by enqueueMany; enqueue runs that need one with enqueue()',
    );
  }
  return enqueueOptions(
    ownOptions(options, ENQUEUE_MANY_KEYS, 'an enqueueMany'),
  );
}

/** @throws InvalidOptionsError */
export function checkDeadLetterOptions(
  options: unknown,
  call: 'redrive' | 'getDeadLetters',
): CheckedDeadLetterOptions {
  const { runIds, limit, manager } = ownOptions(
    options,
    DEAD_LETTER_KEYS,
    `a ${call}`,
  );
  return {
    manager: checkManager(manager),
    runIds: runIds === undefined ? null : checkRunIds(runIds),
    limit: limit === undefined ? DEFAULT_DEAD_LETTER_LIMIT : checkLimit(limit),
  };
}

const SIGNAL_KEYS = ['manager', 'idempotencyKey'] as const;

/** The options of `signal()`, checked. @throws InvalidOptionsError */
export function checkSignalOptions(options: unknown): {
  manager: EntityManager | undefined;
  idempotencyKey: string | null;
} {
  const { manager, idempotencyKey } = ownOptions(
    options,
    SIGNAL_KEYS,
    'a signal',
  );
  return {
    manager: checkManager(manager),
    idempotencyKey: checkKey(idempotencyKey, 'idempotencyKey'),
  };
}

/**
 * The options of `signalWithStart()`: an enqueue's, with `idempotencyKey`
 * required (it finds the run to signal); the signal's own key is
 * `signalIdempotencyKey`. @throws InvalidOptionsError
 */
export function checkSignalWithStartOptions(options: unknown): {
  enqueue: CheckedEnqueueOptions & { idempotencyKey: string };
  signalIdempotencyKey: string | null;
} {
  const { signalIdempotencyKey, ...rest } = ownOptions(
    options,
    [...ENQUEUE_KEYS, 'signalIdempotencyKey'],
    'a signalWithStart',
  );
  const enqueue = enqueueOptions(rest);
  if (enqueue.idempotencyKey === null) {
    throw new InvalidOptionsError(
      'idempotencyKey',
      'is required: it names the run to start or to signal',
    );
  }
  return {
    enqueue: { ...enqueue, idempotencyKey: enqueue.idempotencyKey },
    signalIdempotencyKey: checkKey(
      signalIdempotencyKey,
      'signalIdempotencyKey',
    ),
  };
}

/** @throws InvalidOptionsError */
export function checkCancelOptions(options: unknown): {
  manager: EntityManager | undefined;
} {
  const { manager } = ownOptions(options, CANCEL_KEYS, 'a cancel');
  return { manager: checkManager(manager) };
}

/** @throws InvalidOptionsError */
export function checkRetryOptions(options: unknown): {
  manager: EntityManager | undefined;
} {
  const { manager } = ownOptions(options, CANCEL_KEYS, 'a retry');
  return { manager: checkManager(manager) };
}

/** The `timeout` of `result()` in ms (`Infinity`: none). @throws InvalidOptionsError */
export function checkResultOptions(options: unknown): { timeoutMs: number } {
  const { timeout } = ownOptions(options, RESULT_KEYS, 'a result');
  return {
    timeoutMs:
      timeout === undefined ? Infinity : parseDuration(timeout, 'timeout'),
  };
}

/** The options of `schedule()`, checked. @throws InvalidOptionsError */
export function checkScheduleOptions(options: unknown): {
  key: string;
  overlap: 'allow' | 'skip';
  manager: EntityManager | undefined;
} {
  const { key, overlap, manager } = ownOptions(
    options,
    SCHEDULE_KEYS,
    'a schedule',
    zoneOptionHint,
  );
  if (overlap !== undefined && overlap !== 'allow' && overlap !== 'skip') {
    throw new InvalidOptionsError(
      'overlap',
      `must be 'allow' or 'skip', got ${describeValue(overlap)}`,
    );
  }
  return {
    key: checkScheduleKey(key),
    overlap: overlap ?? 'allow',
    manager: checkManager(manager),
  };
}

/** The options of `unschedule()`, checked. @throws InvalidOptionsError */
export function checkUnscheduleOptions(options: unknown): {
  key: string;
  manager: EntityManager | undefined;
} {
  const { key, manager } = ownOptions(
    options,
    UNSCHEDULE_KEYS,
    'an unschedule',
  );
  return { key: checkScheduleKey(key), manager: checkManager(manager) };
}

function checkScheduleKey(key: unknown): string {
  if (key === undefined) {
    return DEFAULT_SCHEDULE_KEY;
  }
  const problem = nameProblem(key);
  if (problem !== undefined) {
    throw new InvalidOptionsError('key', problem);
  }
  return key as string;
}

/** A workflow name given as a string to a listing (`listVersions`). @throws InvalidOptionsError */
export function checkWorkflowName(name: unknown): string {
  const problem = nameProblem(name);
  if (problem !== undefined) {
    throw new InvalidOptionsError('workflow', problem);
  }
  return name as string;
}

/** The queue name of `redrive()` / `getDeadLetters()`. @throws InvalidOptionsError */
export function checkQueueName(queue: unknown): string {
  const problem = nameProblem(queue);
  if (problem !== undefined) {
    throw new InvalidOptionsError('queue', problem);
  }
  return queue as string;
}

function enqueueOptions(
  options: Partial<Record<(typeof ENQUEUE_KEYS)[number], unknown>>,
): CheckedEnqueueOptions {
  const { delay, runAt, priority } = options;
  if (delay !== undefined && runAt !== undefined) {
    throw new InvalidOptionsError('runAt', 'cannot be combined with delay');
  }
  if (priority !== undefined && !isInt32(priority)) {
    throw new InvalidOptionsError(
      'priority',
      `must be an integer from ${INT32_MIN} to ${INT32_MAX}, got ${describeValue(priority)}`,
    );
  }
  return {
    manager: checkManager(options.manager),
    // parseDuration bounds it: at most MAX_STORED_DURATION_MS (100 years).
    delayMs: delay === undefined ? undefined : parseDuration(delay, 'delay'),
    runAt: runAt === undefined ? undefined : checkRunAt(runAt),
    priority,
    concurrencyKey: checkKey(options.concurrencyKey, 'concurrencyKey'),
    idempotencyKey: checkKey(options.idempotencyKey, 'idempotencyKey'),
  };
}

function checkRunAt(value: unknown): Date {
  const ms = value instanceof Date ? value.getTime() : NaN;
  if (!(ms >= MIN_RUN_AT_MS && ms <= MAX_RUN_AT_MS)) {
    throw new InvalidOptionsError(
      'runAt',
      `must be a Date from ${new Date(MIN_RUN_AT_MS).toISOString()} to ${new Date(MAX_RUN_AT_MS).toISOString()}, got ${describeRunAt(value)}`,
    );
  }
  return new Date(ms);
}

function describeRunAt(value: unknown): string {
  if (!(value instanceof Date)) {
    return describeOptions(value);
  }
  return Number.isNaN(value.getTime())
    ? 'an Invalid Date'
    : value.toISOString();
}

function checkKey(value: unknown, path: string): string | null {
  if (value === undefined) {
    return null;
  }
  const problem = nameProblem(value);
  if (problem !== undefined) {
    throw new InvalidOptionsError(path, problem);
  }
  return value as string;
}

function checkLimit(value: unknown): number {
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < 1 ||
    value > MAX_DEAD_LETTER_LIMIT
  ) {
    throw new InvalidOptionsError(
      'limit',
      `must be an integer from 1 to ${MAX_DEAD_LETTER_LIMIT}, got ${describeValue(value)}`,
    );
  }
  return value;
}

function checkRunIds(value: unknown): string[] {
  if (!Array.isArray(value)) {
    throw new InvalidOptionsError(
      'runIds',
      `must be an array of run ids (UUIDs), got ${describeOptions(value)}`,
    );
  }
  const runIds: string[] = [];
  for (let index = 0; index < value.length; index++) {
    const runId: unknown = value[index];
    if (!isUuid(runId)) {
      throw new InvalidOptionsError(
        `runIds[${index}]`,
        `must be a run id (a UUID), got ${index in value ? describeValue(runId) : 'a hole in a sparse array'}`,
      );
    }
    runIds.push(runId);
  }
  return runIds;
}

/**
 * `undefined` or an object; whether it is a TypeORM `EntityManager` inside a
 * transaction is checked where it is used (`EntityManagerExecutor`).
 */
function checkManager(value: unknown): EntityManager | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (!isObject(value)) {
    throw new InvalidOptionsError(
      'manager',
      `must be the EntityManager of a transaction (from dataSource.transaction(async (manager) => …)), got ${describeValue(value)}`,
    );
  }
  return value as EntityManager;
}
