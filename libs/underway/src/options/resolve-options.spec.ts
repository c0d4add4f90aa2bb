import { thrownBy } from '../testing/thrown-by';
import { hostname } from 'node:os';
import { DEFAULT_RETRY_POLICY } from '../common/retry-policy';
import { MAX_TIMER_DELAY_MS } from '../common/timers';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { MAX_ATTEMPTS, MAX_STORED_DURATION_MS } from '../common/limits';
import {
  BUILTIN_DEFAULTS,
  MAX_CONCURRENCY,
  MAX_INPUT_SIZE,
  MAX_PREFETCH,
  MIN_HEARTBEAT_MS,
  resolveOptions,
} from './resolve-options';
import type { ResolvedRuntimeOptions } from './resolved-options';
import type {
  RuntimeOptions,
  UnderwayModuleOptions,
} from './underway-module-options.interface';

/** The `path` of the InvalidOptionsError that resolving `options` throws. */
function rejectedPath(options: unknown): string {
  const err = thrownBy(() => resolveOptions(options as UnderwayModuleOptions));
  expect(err).toBeInstanceOf(InvalidOptionsError);
  return (err as InvalidOptionsError).path;
}

function runtimeOf(options: UnderwayModuleOptions): ResolvedRuntimeOptions {
  const { runtime } = resolveOptions(options);
  if (runtime === false) {
    throw new Error('expected a runtime');
  }
  return runtime;
}

describe('resolveOptions', () => {
  describe('defaults (SPEC §2, §3)', () => {
    it('fills in every SPEC default for empty options', () => {
      expect(resolveOptions({})).toEqual({
        dataSource: undefined,
        dataSourceName: undefined,
        schema: 'underway',
        migrationsRun: true,
        runtime: {
          concurrency: 10,
          prefetch: 1_000,
          adaptivePrefetch: true,
          pollIntervalMs: 1_000,
          workflows: undefined,
          maintenanceIntervalMs: 60_000,
          unknownStepGraceMs: 600_000,
          manual: false,
        },
        instanceName: `${hostname()}:${process.pid}`,
        maxInputSizeBytes: 1_048_576,
        shutdownTimeoutMs: 30_000,
        reconnectBackoff: { initialMs: 100, maxMs: 5_000 },
        connections: {
          statementTimeoutMs: 10_000,
          connectTimeoutMs: undefined,
          preparedStatements: true,
          listenUrl: undefined,
        },
        defaults: {
          retry: {
            maxAttempts: 5,
            initialIntervalMs: 1_000,
            maxIntervalMs: 60_000,
            backoffCoefficient: 2,
            jitterFactor: 0.5,
          },
          timeoutMs: 900_000,
          leaseMs: 30_000,
          ttlMs: 1_209_600_000,
        },
      });
    });

    it('treats no argument like empty options', () => {
      expect(resolveOptions()).toEqual(resolveOptions({}));
    });

    it('exposes the built-in step defaults: 15 min timeout, 30 s heartbeat, 14 days ttl', () => {
      expect(BUILTIN_DEFAULTS).toEqual({
        retry: DEFAULT_RETRY_POLICY,
        timeoutMs: 15 * 60_000,
        leaseMs: 30_000,
        ttlMs: 14 * 86_400_000,
      });
    });

    it('names the instance <hostname>:<pid> by default', () => {
      expect(resolveOptions({}).instanceName).toBe(
        `${hostname()}:${process.pid}`,
      );
    });

    it('keeps runtime: false, for an instance that only enqueues', () => {
      expect(resolveOptions({ runtime: false }).runtime).toBe(false);
    });

    it("resolves runtime: 'manual' to the default runtime, marked manual (the testing kit drains the work)", () => {
      expect(resolveOptions({ runtime: 'manual' }).runtime).toEqual({
        ...runtimeOf({}),
        manual: true,
      });
    });

    it("refuses a runtime string other than 'manual', naming the choices", () => {
      expect(() =>
        resolveOptions({ runtime: 'auto' as unknown as 'manual' }),
      ).toThrow(
        `Invalid option runtime: must be false (enqueue only), 'manual' (tests: the testing kit drains the work) or an object of worker options, got "auto".`,
      );
    });

    it('still names an enqueue-only instance <hostname>:<pid>', () => {
      expect(resolveOptions({ runtime: false }).instanceName).toBe(
        `${hostname()}:${process.pid}`,
      );
    });
  });

  describe('freezing', () => {
    it('returns a frozen object', () => {
      expect(Object.isFrozen(resolveOptions({}))).toBe(true);
    });

    it('freezes the runtime options', () => {
      expect(Object.isFrozen(resolveOptions({}).runtime)).toBe(true);
    });

    it('freezes the defaults and their retry policy', () => {
      const { defaults } = resolveOptions({
        defaults: { retry: { maxAttempts: 2 } },
      });
      expect([
        Object.isFrozen(defaults),
        Object.isFrozen(defaults.retry),
      ]).toEqual([true, true]);
    });

    it("copies and freezes runtime.workflows, so later changes to the caller's array do not leak in", () => {
      const workflows = ['signup'];
      const runtime = runtimeOf({ runtime: { workflows } });
      workflows.push('receipt');
      expect([runtime.workflows, Object.isFrozen(runtime.workflows)]).toEqual([
        ['signup'],
        true,
      ]);
    });
  });

  describe('given values', () => {
    it('keeps the given schema, migrationsRun, maxInputSize and dataSourceName', () => {
      expect(
        resolveOptions({
          schema: 'tenant_a',
          migrationsRun: false,
          maxInputSize: 4_096,
          dataSourceName: 'analytics',
        }),
      ).toMatchObject({
        schema: 'tenant_a',
        migrationsRun: false,
        maxInputSizeBytes: 4_096,
        dataSourceName: 'analytics',
      });
    });

    it('parses runtime durations and keeps concurrency, workflows and instanceName', () => {
      const resolved = resolveOptions({
        runtime: {
          concurrency: 50,
          prefetch: 200,
          pollInterval: '250ms',
          maintenanceInterval: '5m',
          workflows: ['signup'],
          instanceName: 'worker-a',
        },
      });
      expect([resolved.runtime, resolved.instanceName]).toEqual([
        {
          concurrency: 50,
          prefetch: 200,
          adaptivePrefetch: false,
          pollIntervalMs: 250,
          workflows: ['signup'],
          maintenanceIntervalMs: 300_000,
          unknownStepGraceMs: 600_000,
          manual: false,
        },
        'worker-a',
      ]);
    });

    it('parses shutdownTimeout', () => {
      expect(resolveOptions({ shutdownTimeout: '2m' }).shutdownTimeoutMs).toBe(
        120_000,
      );
    });

    it('accepts a shutdownTimeout of 0 (abort in-flight steps at once)', () => {
      expect(resolveOptions({ shutdownTimeout: 0 }).shutdownTimeoutMs).toBe(0);
    });

    it('parses defaults.timeout, heartbeat and ttl', () => {
      expect(
        resolveOptions({
          defaults: { timeout: '1h', heartbeat: '10s', ttl: '30d' },
        }).defaults,
      ).toMatchObject({
        timeoutMs: 3_600_000,
        leaseMs: 10_000,
        ttlMs: 2_592_000_000,
      });
    });

    it('merges defaults.retry field by field over the built-in policy', () => {
      expect(
        resolveOptions({
          defaults: { retry: { maxAttempts: 3, jitterFactor: 0 } },
        }).defaults.retry,
      ).toEqual({ ...DEFAULT_RETRY_POLICY, maxAttempts: 3, jitterFactor: 0 });
    });

    it(`accepts the shortest heartbeat, ${MIN_HEARTBEAT_MS} ms`, () => {
      expect(
        resolveOptions({ defaults: { heartbeat: 30 } }).defaults.leaseMs,
      ).toBe(30);
    });

    it('accepts the longest timer delay as a timeout', () => {
      expect(
        resolveOptions({ defaults: { timeout: MAX_TIMER_DELAY_MS } }).defaults
          .timeoutMs,
      ).toBe(MAX_TIMER_DELAY_MS);
    });
  });

  describe('unknown keys', () => {
    it('rejects an unknown top-level key, naming it', () => {
      expect(rejectedPath({ schemaName: 'x' })).toBe('schemaName');
    });

    it('lists the known options in the message', () => {
      expect(() =>
        resolveOptions({ concurrency: 5 } as UnderwayModuleOptions),
      ).toThrow(
        'Invalid option concurrency: is not a known option (known: dataSource, dataSourceName, schema, migrationsRun, runtime, maxInputSize, shutdownTimeout, defaults, reconnectBackoff, connections).',
      );
    });

    it('rejects an unknown runtime key, naming it', () => {
      expect(rejectedPath({ runtime: { concurency: 5 } })).toBe(
        'runtime.concurency',
      );
    });

    it('rejects an unknown defaults key, naming it', () => {
      expect(rejectedPath({ defaults: { retries: 3 } })).toBe(
        'defaults.retries',
      );
    });
  });

  it("takes prefetch 'auto' (the default) as adaptive, up to 1,000, and refuses other strings", () => {
    expect(
      resolveOptions({ runtime: { prefetch: 'auto' } }).runtime,
    ).toMatchObject({
      prefetch: 1_000,
      adaptivePrefetch: true,
    });
    expect(() =>
      resolveOptions({ runtime: { prefetch: 'lots' as unknown as number } }),
    ).toThrow(
      'Invalid option runtime.prefetch: must be \'auto\' or an integer from 0 to 100000, got "lots".',
    );
  });

  it('keeps numbers strict, and names a numeric string (an environment variable read through ConfigService) as a string, with the fix', () => {
    expect(() =>
      resolveOptions({
        runtime: { concurrency: '10' as unknown as number },
      }),
    ).toThrow(
      `Invalid option runtime.concurrency: must be an integer from 1 to 10000, got the string "10" (values from process.env or ConfigService are strings: convert it, Number(config.get('…'))).`,
    );
    expect(() =>
      resolveOptions({ runtime: { prefetch: '50' as unknown as number } }),
    ).toThrow(/got the string "50" \(values from process\.env/);
    expect(() =>
      resolveOptions({ maxInputSize: '1024' as unknown as number }),
    ).toThrow(/^Invalid option maxInputSize: .*got the string "1024"/);
    expect(() =>
      resolveOptions({ runtime: { pollInterval: '1000' } as never }),
    ).toThrow(
      `Invalid option runtime.pollInterval: must be a duration such as 500, '500ms', '30s', '15m', '1h' or '14d', got the string "1000" (values from process.env or ConfigService are strings: convert it, Number(config.get('…')) or write its unit, '1000ms').`,
    );
    expect(() =>
      resolveOptions({
        defaults: { retry: { maxAttempts: '3' as unknown as number } },
      }),
    ).toThrow(
      /^Invalid option defaults\.retry\.maxAttempts: must be an integer from 1 to 1000000, got the string "3" \(/,
    );
  });

  describe('limits: the extremes accepted, and one past them refused', () => {
    const YEARS_100 = MAX_STORED_DURATION_MS;
    // [path, options at the smallest accepted, at the largest, one below, one above]
    const cases: [
      string,
      (v: unknown) => UnderwayModuleOptions,
      unknown,
      unknown,
      unknown,
      unknown,
    ][] = [
      [
        'runtime.concurrency',
        (v) => ({ runtime: { concurrency: v } as RuntimeOptions }),
        1,
        MAX_CONCURRENCY,
        0,
        MAX_CONCURRENCY + 1,
      ],
      [
        'runtime.prefetch',
        (v) => ({ runtime: { prefetch: v } as RuntimeOptions }),
        0,
        MAX_PREFETCH,
        -1,
        MAX_PREFETCH + 1,
      ],
      [
        'runtime.pollInterval',
        (v) => ({ runtime: { pollInterval: v } as RuntimeOptions }),
        1,
        MAX_TIMER_DELAY_MS,
        0,
        MAX_TIMER_DELAY_MS + 1,
      ],
      [
        'runtime.maintenanceInterval',
        (v) => ({ runtime: { maintenanceInterval: v } as RuntimeOptions }),
        1,
        MAX_TIMER_DELAY_MS,
        0,
        MAX_TIMER_DELAY_MS + 1,
      ],
      [
        'maxInputSize',
        (v) => ({ maxInputSize: v as number }),
        1,
        MAX_INPUT_SIZE,
        0,
        MAX_INPUT_SIZE + 1,
      ],
      [
        'shutdownTimeout',
        (v) => ({ shutdownTimeout: v as number }),
        0,
        MAX_TIMER_DELAY_MS,
        -1,
        MAX_TIMER_DELAY_MS + 1,
      ],
      [
        'defaults.timeout',
        (v) => ({ defaults: { timeout: v as number } }),
        1,
        MAX_TIMER_DELAY_MS,
        0,
        MAX_TIMER_DELAY_MS + 1,
      ],
      [
        'defaults.heartbeat',
        (v) => ({ defaults: { heartbeat: v as number } }),
        MIN_HEARTBEAT_MS,
        MAX_TIMER_DELAY_MS,
        MIN_HEARTBEAT_MS - 1,
        MAX_TIMER_DELAY_MS + 1,
      ],
      [
        'defaults.ttl',
        (v) => ({ defaults: { ttl: v as number } }),
        0,
        YEARS_100,
        -1,
        YEARS_100 + 1,
      ],
      [
        'defaults.retry.maxAttempts',
        (v) => ({ defaults: { retry: { maxAttempts: v as number } } }),
        1,
        MAX_ATTEMPTS,
        0,
        MAX_ATTEMPTS + 1,
      ],
      [
        'defaults.retry.initialInterval',
        (v) => ({
          defaults: {
            retry: { initialInterval: v as number, maxInterval: YEARS_100 },
          },
        }),
        0,
        YEARS_100,
        -1,
        YEARS_100 + 1,
      ],
      [
        'defaults.retry.maxInterval',
        (v) => ({
          defaults: { retry: { initialInterval: 0, maxInterval: v as number } },
        }),
        0,
        YEARS_100,
        -1,
        YEARS_100 + 1,
      ],
      [
        'defaults.retry.jitterFactor',
        (v) => ({ defaults: { retry: { jitterFactor: v as number } } }),
        0,
        1,
        -0.01,
        1.01,
      ],
      [
        'reconnectBackoff.initial',
        (v) => ({
          reconnectBackoff: { initial: v as number, max: MAX_TIMER_DELAY_MS },
        }),
        1,
        MAX_TIMER_DELAY_MS,
        0,
        MAX_TIMER_DELAY_MS + 1,
      ],
      [
        'connections.statementTimeout',
        (v) => ({ connections: { statementTimeout: v as number } }),
        100,
        3_600_000,
        99,
        3_600_001,
      ],
      [
        'connections.connectTimeout',
        (v) => ({ connections: { connectTimeout: v as number } }),
        100,
        600_000,
        99,
        600_001,
      ],
    ];

    it.each(cases)('%s', (path, make, smallest, largest, below, above) => {
      expect(() => resolveOptions(make(smallest))).not.toThrow();
      expect(() => resolveOptions(make(largest))).not.toThrow();
      expect(rejectedPath(make(below))).toBe(path);
      expect(rejectedPath(make(above))).toBe(path);
    });

    it('names a duration past 100 years with its bound', () => {
      expect(() => resolveOptions({ defaults: { ttl: 1e16 } })).toThrow(
        `Invalid option defaults.ttl: must be between 0ms and ${MAX_STORED_DURATION_MS}ms (100 years), got 10000000000000000ms.`,
      );
    });

    it.each([
      ['\u0000', 'a\u0000b'],
      ['a lone high surrogate', 'host-\uD83D'],
      ['a lone low surrogate', 'host-\uDE00'],
      ['an empty string', ''],
      ['more than 255 characters', 'x'.repeat(256)],
    ])('refuses an instanceName with %s', (_, instanceName) => {
      expect(rejectedPath({ runtime: { instanceName } })).toBe(
        'runtime.instanceName',
      );
    });

    it('accepts an instanceName of 255 characters with astral characters', () => {
      const instanceName = `${'😀'.repeat(100)}${'x'.repeat(55)}`;
      expect(resolveOptions({ runtime: { instanceName } }).instanceName).toBe(
        instanceName,
      );
    });
  });

  describe('connections', () => {
    it('takes statementTimeout and connectTimeout as durations', () => {
      expect(
        resolveOptions({
          connections: { statementTimeout: '2s', connectTimeout: 500 },
        }).connections,
      ).toEqual({
        statementTimeoutMs: 2_000,
        connectTimeoutMs: 500,
        preparedStatements: true,
        listenUrl: undefined,
      });
    });

    it('accepts the bounds of each: 100ms to 1h, and 100ms to 10m', () => {
      expect(
        resolveOptions({
          connections: { statementTimeout: 100, connectTimeout: 100 },
        }).connections,
      ).toMatchObject({ statementTimeoutMs: 100, connectTimeoutMs: 100 });
      expect(
        resolveOptions({
          connections: { statementTimeout: '1h', connectTimeout: '10m' },
        }).connections,
      ).toMatchObject({
        statementTimeoutMs: 3_600_000,
        connectTimeoutMs: 600_000,
      });
    });

    it('takes preparedStatements: false and a listenUrl, for a transaction pooler', () => {
      expect(
        resolveOptions({
          connections: {
            preparedStatements: false,
            listenUrl: 'postgres://app@db.internal:5432/app',
          },
        }).connections,
      ).toEqual({
        statementTimeoutMs: 10_000,
        connectTimeoutMs: undefined,
        preparedStatements: false,
        listenUrl: 'postgres://app@db.internal:5432/app',
      });
    });

    it.each<[string, unknown]>([
      ['connections.preparedStatements', { preparedStatements: 'no' }],
      ['connections.listenUrl', { listenUrl: 'db.internal:5432' }],
      ['connections.listenUrl', { listenUrl: 'http://db.internal' }],
      ['connections.listenUrl', { listenUrl: 42 }],
      ['connections', 'fast'],
      ['connections.statementTimeout', { statementTimeout: 99 }],
      ['connections.statementTimeout', { statementTimeout: '2h' }],
      ['connections.statementTimeout', { statementTimeout: 0 }],
      ['connections.connectTimeout', { connectTimeout: '11m' }],
      ['connections.connectTimeout', { connectTimeout: 'soon' }],
      ['connections.statementTimout', { statementTimout: '1s' }],
    ])('refuses %s in %p', (path, connections) => {
      expect(rejectedPath({ connections })).toBe(path);
    });
  });

  describe('invalid values', () => {
    it.each<[string, string, unknown]>([
      ['options null', 'options', null],
      ['options an array', 'options', []],
      ['options a string', 'options', 'underway'],
      ['schema with upper case', 'schema', { schema: 'Underway' }],
      ['schema with a leading digit', 'schema', { schema: '1x' }],
      ['schema not a string', 'schema', { schema: 5 }],
      ['migrationsRun "yes"', 'migrationsRun', { migrationsRun: 'yes' }],
      ['runtime true', 'runtime', { runtime: true }],
      ['concurrency 0', 'runtime.concurrency', { runtime: { concurrency: 0 } }],
      [
        'concurrency 1.5',
        'runtime.concurrency',
        { runtime: { concurrency: 1.5 } },
      ],
      [
        'concurrency -1',
        'runtime.concurrency',
        { runtime: { concurrency: -1 } },
      ],
      [
        'concurrency "10"',
        'runtime.concurrency',
        { runtime: { concurrency: '10' } },
      ],
      [
        'concurrency NaN',
        'runtime.concurrency',
        { runtime: { concurrency: NaN } },
      ],
      [
        'pollInterval "soon"',
        'runtime.pollInterval',
        { runtime: { pollInterval: 'soon' } },
      ],
      [
        'pollInterval 0',
        'runtime.pollInterval',
        { runtime: { pollInterval: 0 } },
      ],
      [
        'pollInterval over the timer limit',
        'runtime.pollInterval',
        { runtime: { pollInterval: '25d' } },
      ],
      [
        'maintenanceInterval "0s"',
        'runtime.maintenanceInterval',
        { runtime: { maintenanceInterval: '0s' } },
      ],
      [
        'workflows a string',
        'runtime.workflows',
        { runtime: { workflows: 'signup' } },
      ],
      [
        'workflows with a number',
        'runtime.workflows',
        { runtime: { workflows: ['signup', 1] } },
      ],
      [
        'instanceName empty',
        'runtime.instanceName',
        { runtime: { instanceName: '' } },
      ],
      [
        'instanceName a number',
        'runtime.instanceName',
        { runtime: { instanceName: 7 } },
      ],
      ['maxInputSize 0', 'maxInputSize', { maxInputSize: 0 }],
      ['maxInputSize 1.5', 'maxInputSize', { maxInputSize: 1.5 }],
      ['maxInputSize "1MB"', 'maxInputSize', { maxInputSize: '1MB' }],
      ['shutdownTimeout "-1s"', 'shutdownTimeout', { shutdownTimeout: '-1s' }],
      ['shutdownTimeout -1', 'shutdownTimeout', { shutdownTimeout: -1 }],
      ['defaults an array', 'defaults', { defaults: [] }],
      ['defaults.timeout 0', 'defaults.timeout', { defaults: { timeout: 0 } }],
      [
        'defaults.timeout "15 minutes"',
        'defaults.timeout',
        { defaults: { timeout: '15 minutes' } },
      ],
      [
        'defaults.timeout over the timer limit',
        'defaults.timeout',
        { defaults: { timeout: '25d' } },
      ],
      [
        'defaults.heartbeat 29ms',
        'defaults.heartbeat',
        { defaults: { heartbeat: '29ms' } },
      ],
      [
        'defaults.heartbeat 0',
        'defaults.heartbeat',
        { defaults: { heartbeat: 0 } },
      ],
      [
        'defaults.heartbeat over the timer limit',
        'defaults.heartbeat',
        { defaults: { heartbeat: '25d' } },
      ],
      [
        'defaults.ttl "forever"',
        'defaults.ttl',
        { defaults: { ttl: 'forever' } },
      ],
      ['defaults.ttl -1', 'defaults.ttl', { defaults: { ttl: -1 } }],
      ['defaults.retry a number', 'defaults.retry', { defaults: { retry: 3 } }],
      [
        'defaults.retry.maxAttempts 0',
        'defaults.retry.maxAttempts',
        { defaults: { retry: { maxAttempts: 0 } } },
      ],
      [
        'defaults.retry.jitterFactor 2',
        'defaults.retry.jitterFactor',
        { defaults: { retry: { jitterFactor: 2 } } },
      ],
      [
        'defaults.retry.initialInterval "1 sec"',
        'defaults.retry.initialInterval',
        { defaults: { retry: { initialInterval: '1 sec' } } },
      ],
    ])('rejects %s with InvalidOptionsError at %p', (_label, path, options) => {
      expect(rejectedPath(options)).toBe(path);
    });

    it('explains the heartbeat bounds in the message', () => {
      expect(() => resolveOptions({ defaults: { heartbeat: '29ms' } })).toThrow(
        `Invalid option defaults.heartbeat: must be between 30ms and ${MAX_TIMER_DELAY_MS}ms, got 29ms.`,
      );
    });

    it('names the value it got for a bad concurrency', () => {
      expect(() => resolveOptions({ runtime: { concurrency: 1.5 } })).toThrow(
        'Invalid option runtime.concurrency: must be an integer from 1 to 10000, got 1.5.',
      );
    });

    // Regression (fixed): every other timer option is capped at 2^31−1 ms, but shutdownTimeout
    // is not; ClaimLoop.drain() then passes it to setTimeout, which fires after
    // 1 ms for larger values (RELIABILITY: "setTimeout never receives more than
    // 2^31−1 ms").
    it('rejects a shutdownTimeout longer than setTimeout can wait, like every other timer option', () => {
      expect(rejectedPath({ shutdownTimeout: '30d' })).toBe('shutdownTimeout');
    });
  });
});
