import { context, propagation, trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { WorkflowRegistry } from '../discovery/workflow.registry';
import type { ClaimedRun } from '../queue/claimed-run';
import { UnderwayTracing } from './underway-tracing';

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
  traceContext: null,
};

describe('UnderwayTracing', () => {
  afterEach(() => {
    trace.disable();
    propagation.disable();
    context.disable();
  });

  it('is off without an SDK: no span, no context to store, the write called as is', async () => {
    const tracing = new UnderwayTracing(new WorkflowRegistry());
    expect(tracing.enabled).toBe(false);
    expect(tracing.attemptStarted(claim)).toBeUndefined();
    const write = jest.fn((traceContext: string | null) =>
      Promise.resolve(traceContext),
    );
    await expect(tracing.enqueue('signup', 1, write)).resolves.toBeNull();
    await expect(tracing.redrive('dlq', write)).resolves.toBeNull();
    expect(write).toHaveBeenCalledTimes(2);
  });

  it('is on once an SDK has registered its tracer provider; without a propagator it stores nothing', async () => {
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({
        spanProcessors: [new SimpleSpanProcessor(exporter)],
      }),
    );
    const tracing = new UnderwayTracing(new WorkflowRegistry());
    expect(tracing.enabled).toBe(true);
    const stored = await tracing.enqueue(
      'signup',
      1,
      (traceContext) => Promise.resolve({ id: 'r1', traceContext }),
      (r) => r.id,
    );
    expect(stored).toEqual({ id: 'r1', traceContext: null });
    const attempt = tracing.attemptStarted(claim);
    expect(attempt).toBeDefined();
    tracing.attemptEnded(attempt!, { kind: 'release' }, 'pending');
    expect(
      exporter
        .getFinishedSpans()
        .map((s) => [s.name, s.attributes['underway.outcome']]),
    ).toEqual([
      ['underway.enqueue signup', undefined],
      ['underway.step signup.0', 'released'],
    ]);
  });
});
