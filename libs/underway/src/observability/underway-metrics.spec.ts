import { metrics } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import { WorkflowRegistry } from '../discovery/workflow.registry';
import type { ClaimedRun } from '../queue/claimed-run';
import { QueueSampler } from './queue.sampler';
import { UnderwayMetrics } from './underway-metrics';

const claim: ClaimedRun = {
  kind: 'step',
  id: '01900000-0000-7000-8000-000000000000',
  workflowName: 'signup',
  stepIndex: 0,
  attempt: 1,
  fence: '1',
  maxAttempts: 5,
  leaseMs: 30_000,
  input: null,
  claimedAt: '2026-01-01 00:00:00+00',
  recordedCalls: 0,
  queueWaitMs: 3,
};

describe('UnderwayMetrics', () => {
  afterEach(() => {
    metrics.disable();
    jest.restoreAllMocks();
  });

  it('is off without an SDK: no clock read, no instrument, no queue sample', async () => {
    const recorder = new UnderwayMetrics(new WorkflowRegistry());
    expect(recorder.enabled).toBe(false);
    const clock = jest.spyOn(performance, 'now');
    const startedAt = recorder.now();
    recorder.claimed(claim);
    recorder.committed(
      claim,
      { kind: 'complete', output: null },
      'succeeded',
      startedAt,
    );
    recorder.enqueued('signup');
    recorder.finished('signup', 'cancelled');
    recorder.leasesExpired([], []);
    expect(startedAt).toBe(0);
    expect(clock).not.toHaveBeenCalled();

    const executor: SqlExecutor = { query: jest.fn() };
    await new QueueSampler(recorder, 'underway' as Schema, ['signup']).sample(
      executor,
    );
    expect(executor.query).not.toHaveBeenCalled();
    recorder.onApplicationShutdown();
  });

  it('is on once an SDK has registered its meter provider', async () => {
    const provider = new MeterProvider();
    metrics.setGlobalMeterProvider(provider);
    const recorder = new UnderwayMetrics(new WorkflowRegistry());
    expect(recorder.enabled).toBe(true);
    expect(recorder.now()).toBeGreaterThan(0);
    recorder.onApplicationShutdown();
    await provider.shutdown();
  });
});
