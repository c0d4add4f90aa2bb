import { metrics } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import { UnderwayEvents } from '../events/underway-events';
import { QueueSampler } from './queue.sampler';
import { UnderwayMetrics } from './underway-metrics';

const SUBSCRIBED = [
  'run:enqueued',
  'run:finished',
  'attempt:claimed',
  'attempt:settled',
  'attempt:discarded',
  'attempt:expired',
] as const;

describe('UnderwayMetrics', () => {
  afterEach(() => {
    metrics.disable();
    jest.restoreAllMocks();
  });

  it('is off without an SDK: it subscribes to nothing, so events cost nothing, and samples no queue', async () => {
    const events = new UnderwayEvents();
    const recorder = new UnderwayMetrics(events);
    expect(recorder.enabled).toBe(false);
    for (const name of SUBSCRIBED) {
      expect(events.has(name)).toBe(false);
    }
    const executor: SqlExecutor = {
      query: jest.fn(),
      afterCommit: (fn) => fn(),
      atomically: (fn) => fn(executor),
    };
    await new QueueSampler(recorder, 'underway' as Schema, ['signup']).sample(
      executor,
    );
    expect(executor.query).not.toHaveBeenCalled();
    recorder.onApplicationShutdown();
  });

  it('is on once an SDK has registered its meter provider: subscribed until shutdown', async () => {
    const provider = new MeterProvider();
    metrics.setGlobalMeterProvider(provider);
    const events = new UnderwayEvents();
    const recorder = new UnderwayMetrics(events);
    expect(recorder.enabled).toBe(true);
    for (const name of SUBSCRIBED) {
      expect(events.has(name)).toBe(true);
    }
    events.emit('attempt:settled', {
      runId: 'r',
      workflowName: 'signup',
      step: 'resolve',
      kind: 'step',
      attempt: 1,
      outcome: 'retry',
      durationMs: 3,
      error: { code: 'timeout', message: 'late', name: 'StepTimeoutError' },
    });
    recorder.onApplicationShutdown();
    for (const name of SUBSCRIBED) {
      expect(events.has(name)).toBe(false);
    }
    await provider.shutdown();
  });
});
