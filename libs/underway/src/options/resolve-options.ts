// Over 300 lines on purpose: one job, every module option checked and resolved
// in one pass (the @nestjs/schedule habit: defaults applied once), one small
// function per option.
import { hostname } from 'node:os';
import { describeNumberValue, describeValue } from '../errors/describe-value';
import { parseDuration } from '../common/duration';
import { nameProblem } from '../common/limits';
import { DEFAULT_RETRY_POLICY, mergeRetryPolicy } from '../common/retry-policy';
import { MAX_TIMER_DELAY_MS } from '../common/timers';
import { parseSchema } from '../database/sql';
import type { ReconnectBackoff } from '../database/transient-retry';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import type {
  ResolvedConnectionOptions,
  ResolvedDefaults,
  ResolvedOptions,
  ResolvedRuntimeOptions,
} from './resolved-options';
import type {
  RuntimeOptions,
  UnderwayModuleOptions,
  WorkflowDefaults,
} from './underway-module-options.interface';

export const MIN_HEARTBEAT_MS = 30;
/** Steps at once in one process. */
export const MAX_CONCURRENCY = 10_000;
/** Runs claimed ahead in one process. */
export const MAX_PREFETCH = 100_000;
/** The most runs `prefetch: 'auto'` claims ahead. */
export const AUTO_PREFETCH_LIMIT = 1_000;
/** PostgreSQL's largest `jsonb` value: 256 MiB less one byte. */
export const MAX_INPUT_SIZE = 268_435_455;

const MODULE_KEYS: ReadonlySet<string> = new Set([
  'dataSource',
  'dataSourceName',
  'schema',
  'migrationsRun',
  'runtime',
  'maxInputSize',
  'shutdownTimeout',
  'defaults',
  'reconnectBackoff',
  'connections',
]);
const RUNTIME_KEYS: ReadonlySet<string> = new Set([
  'concurrency',
  'prefetch',
  'pollInterval',
  'workflows',
  'instanceName',
  'maintenanceInterval',
  'unknownStepGrace',
]);
const DEFAULTS_KEYS: ReadonlySet<string> = new Set([
  'retry',
  'timeout',
  'heartbeat',
  'ttl',
]);

/** The built-in defaults of SPEC §2/§3. */
export const BUILTIN_DEFAULTS: ResolvedDefaults = Object.freeze({
  retry: DEFAULT_RETRY_POLICY,
  timeoutMs: 15 * 60_000,
  leaseMs: 30_000,
  ttlMs: 14 * 86_400_000,
});

/**
 * Fills in every default and validates once, so the rest of the library never
 * checks for `undefined`. Durations become milliseconds here.
 */
export function resolveOptions(
  options: UnderwayModuleOptions = {},
): ResolvedOptions {
  assertObject(options, 'options');
  rejectUnknownKeys(options, MODULE_KEYS, '');
  const runtime = resolveRuntime(options.runtime);
  const instanceName =
    (typeof options.runtime === 'object' && options.runtime
      ? options.runtime.instanceName
      : undefined) ?? `${hostname()}:${process.pid}`;
  const instanceProblem = nameProblem(instanceName);
  if (instanceProblem !== undefined) {
    throw new InvalidOptionsError('runtime.instanceName', instanceProblem);
  }
  return Object.freeze({
    dataSource: options.dataSource,
    dataSourceName: options.dataSourceName,
    schema: parseSchema(options.schema ?? 'underway'),
    migrationsRun: optionalBoolean(
      options.migrationsRun,
      'migrationsRun',
      true,
    ),
    runtime,
    instanceName,
    maxInputSizeBytes: positiveInteger(
      options.maxInputSize,
      'maxInputSize',
      1024 * 1024,
      MAX_INPUT_SIZE,
    ),
    shutdownTimeoutMs: boundedDuration(
      options.shutdownTimeout,
      'shutdownTimeout',
      30_000,
      0,
    ),
    defaults: resolveDefaults(BUILTIN_DEFAULTS, options.defaults, 'defaults'),
    reconnectBackoff: resolveReconnectBackoff(options.reconnectBackoff),
    connections: resolveConnections(options.connections),
  });
}

/**
 * Applies a layer of policies (module defaults, a workflow's or a step's
 * options) over `base`, field by field.
 */
export function resolveDefaults(
  base: ResolvedDefaults,
  layer: WorkflowDefaults | undefined,
  path: string,
): ResolvedDefaults {
  if (layer === undefined) {
    return base;
  }
  assertObject(layer, path);
  if (path === 'defaults') {
    rejectUnknownKeys(layer, DEFAULTS_KEYS, 'defaults.');
  }
  return Object.freeze({
    retry: mergeRetryPolicy(base.retry, layer.retry, `${path}.retry`),
    timeoutMs:
      layer.timeout === undefined
        ? base.timeoutMs
        : timeoutMs(layer.timeout, `${path}.timeout`),
    leaseMs:
      layer.heartbeat === undefined
        ? base.leaseMs
        : leaseMs(layer.heartbeat, `${path}.heartbeat`),
    ttlMs:
      layer.ttl === undefined
        ? base.ttlMs
        : parseDuration(layer.ttl, `${path}.ttl`),
  });
}

function resolveRuntime(
  runtime: false | 'manual' | RuntimeOptions | undefined,
): ResolvedOptions['runtime'] {
  if (runtime === false) {
    return false;
  }
  if (runtime === null || typeof runtime === 'string') {
    if (runtime === 'manual') {
      return Object.freeze({
        ...(resolveRuntime({}) as ResolvedRuntimeOptions),
        manual: true,
      });
    }
    throw new InvalidOptionsError(
      'runtime',
      `must be false (enqueue only), 'manual' (tests: the testing kit drains the work) or an object of worker options, got ${describeValue(runtime)}`,
    );
  }
  const value = runtime ?? {};
  assertObject(value, 'runtime');
  rejectUnknownKeys(value, RUNTIME_KEYS, 'runtime.');
  if (
    value.workflows !== undefined &&
    (!Array.isArray(value.workflows) ||
      value.workflows.some((name) => typeof name !== 'string'))
  ) {
    throw new InvalidOptionsError(
      'runtime.workflows',
      'must be an array of workflow names',
    );
  }
  return Object.freeze({
    concurrency: positiveInteger(
      value.concurrency,
      'runtime.concurrency',
      10,
      MAX_CONCURRENCY,
    ),
    prefetch:
      value.prefetch === undefined || value.prefetch === 'auto'
        ? AUTO_PREFETCH_LIMIT
        : prefetchCount(value.prefetch),
    adaptivePrefetch: value.prefetch === undefined || value.prefetch === 'auto',
    pollIntervalMs: positiveDuration(
      value.pollInterval,
      'runtime.pollInterval',
      1_000,
    ),
    workflows: value.workflows
      ? Object.freeze([...value.workflows])
      : undefined,
    maintenanceIntervalMs: positiveDuration(
      value.maintenanceInterval,
      'runtime.maintenanceInterval',
      60_000,
    ),
    unknownStepGraceMs: positiveDuration(
      value.unknownStepGrace,
      'runtime.unknownStepGrace',
      600_000,
    ),
    manual: false,
  });
}

/** `connections.listenUrl`: a `postgres://` URL. */
function checkListenUrl(value: unknown): string | undefined {
  if (value === undefined) {
    return undefined;
  }
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (
    url === undefined ||
    (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
  ) {
    throw new InvalidOptionsError(
      'connections.listenUrl',
      `must be a postgres:// connection URL, got ${typeof value === 'string' ? 'a string that is not one' : describeValue(value)}`,
    );
  }
  return value as string;
}

const MAX_STATEMENT_TIMEOUT_MS = 3_600_000;
const MAX_CONNECT_TIMEOUT_MS = 600_000;

function resolveConnections(
  value: UnderwayModuleOptions['connections'],
): ResolvedConnectionOptions {
  if (value === undefined) {
    return Object.freeze({
      statementTimeoutMs: 10_000,
      connectTimeoutMs: undefined,
      preparedStatements: true,
      listenUrl: undefined,
    });
  }
  assertObject(value, 'connections');
  rejectUnknownKeys(
    value,
    new Set([
      'statementTimeout',
      'connectTimeout',
      'preparedStatements',
      'listenUrl',
    ]),
    'connections.',
  );
  if (
    value.preparedStatements !== undefined &&
    typeof value.preparedStatements !== 'boolean'
  ) {
    throw new InvalidOptionsError(
      'connections.preparedStatements',
      `must be true or false, got ${describeValue(value.preparedStatements)}`,
    );
  }
  return Object.freeze({
    preparedStatements: value.preparedStatements ?? true,
    listenUrl: checkListenUrl(value.listenUrl),
    statementTimeoutMs: boundedDuration(
      value.statementTimeout,
      'connections.statementTimeout',
      10_000,
      100,
      MAX_STATEMENT_TIMEOUT_MS,
    ),
    connectTimeoutMs:
      value.connectTimeout === undefined
        ? undefined
        : boundedDuration(
            value.connectTimeout,
            'connections.connectTimeout',
            10_000,
            100,
            MAX_CONNECT_TIMEOUT_MS,
          ),
  });
}

function resolveReconnectBackoff(
  value: UnderwayModuleOptions['reconnectBackoff'],
): ReconnectBackoff {
  if (value === undefined) {
    return Object.freeze({ initialMs: 100, maxMs: 5_000 });
  }
  assertObject(value, 'reconnectBackoff');
  rejectUnknownKeys(value, new Set(['initial', 'max']), 'reconnectBackoff.');
  const initialMs = positiveDuration(
    value.initial,
    'reconnectBackoff.initial',
    100,
  );
  const maxMs = positiveDuration(
    value.max,
    'reconnectBackoff.max',
    Math.max(5_000, initialMs),
  );
  if (maxMs < initialMs) {
    throw new InvalidOptionsError(
      'reconnectBackoff.max',
      `must not be shorter than reconnectBackoff.initial (${initialMs}ms), got ${maxMs}ms`,
    );
  }
  return Object.freeze({ initialMs, maxMs });
}

/** A step attempt's bound: a timer, so at most 2^31−1 ms (about 24.8 days). */
function timeoutMs(value: unknown, path: string): number {
  return parseDuration(value, path, { min: 1, max: MAX_TIMER_DELAY_MS });
}

/** A lease: renewed by a timer a third of it apart. */
function leaseMs(value: unknown, path: string): number {
  return parseDuration(value, path, {
    min: MIN_HEARTBEAT_MS,
    max: MAX_TIMER_DELAY_MS,
  });
}

function positiveDuration(
  value: unknown,
  path: string,
  fallback: number,
): number {
  return boundedDuration(value, path, fallback, 1);
}

function boundedDuration(
  value: unknown,
  path: string,
  fallback: number,
  minMs: number,
  maxMs = MAX_TIMER_DELAY_MS,
): number {
  if (value === undefined) {
    return fallback;
  }
  return parseDuration(value, path, { min: minMs, max: maxMs });
}

function positiveInteger(
  value: unknown,
  path: string,
  fallback: number,
  max: number,
): number {
  return boundedInteger(value, path, fallback, 1, max);
}

function prefetchCount(value: unknown): number {
  if (typeof value !== 'number') {
    throw new InvalidOptionsError(
      'runtime.prefetch',
      `must be 'auto' or an integer from 0 to ${MAX_PREFETCH}, got ${describeNumberValue(value)}`,
    );
  }
  return boundedInteger(value, 'runtime.prefetch', 0, 0, MAX_PREFETCH);
}

function boundedInteger(
  value: unknown,
  path: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) {
    return fallback;
  }
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < min ||
    value > max
  ) {
    throw new InvalidOptionsError(
      path,
      `must be an integer from ${min} to ${max}, got ${describeNumberValue(value)}`,
    );
  }
  return value;
}

function optionalBoolean(
  value: unknown,
  path: string,
  fallback: boolean,
): boolean {
  if (value === undefined) {
    return fallback;
  }
  if (typeof value !== 'boolean') {
    throw new InvalidOptionsError(
      path,
      `must be a boolean, got ${describeValue(value)}`,
    );
  }
  return value;
}

function assertObject(value: unknown, path: string): asserts value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionsError(path, 'must be an object');
  }
}

function rejectUnknownKeys(
  value: object,
  known: ReadonlySet<string>,
  prefix: string,
): void {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) {
      throw new InvalidOptionsError(
        `${prefix}${key}`,
        `is not a known option (known: ${[...known].join(', ')})`,
      );
    }
  }
}
