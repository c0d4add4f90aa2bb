import { context, propagation, trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type {
  AttemptTask,
  EnqueueRequest,
} from '../events/underway.interceptor';
import { TracingInterceptor } from './tracing.interceptor';

const request: EnqueueRequest = {
  workflowName: 'signup',
  source: 'client',
  count: 1,
  carrier: null,
};

const task: AttemptTask = {
  runId: '01900000-0000-7000-8000-000000000000',
  workflowName: 'signup',
  step: 'resolve',
  kind: 'step',
  attempt: 1,
  stepIndex: 0,
  carrier: null,
};

describe('TracingInterceptor', () => {
  afterEach(() => {
    trace.disable();
    propagation.disable();
    context.disable();
  });

  it('is off without an SDK: the request goes through as is, no span', async () => {
    const tracing = new TracingInterceptor();
    expect(tracing.enabled).toBe(false);
    const next = jest.fn((r: EnqueueRequest) =>
      Promise.resolve({ runIds: [JSON.stringify(r.carrier)] }),
    );
    await expect(tracing.enqueue(request, next)).resolves.toEqual({
      runIds: ['null'],
    });
    expect(next).toHaveBeenCalledWith(request);
    await expect(
      tracing.attempt(task, () => Promise.resolve({ outcome: 'released' })),
    ).resolves.toEqual({ outcome: 'released' });
  });

  it('is on once an SDK has registered its tracer provider; without a propagator it stores nothing', async () => {
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({
        spanProcessors: [new SimpleSpanProcessor(exporter)],
      }),
    );
    const tracing = new TracingInterceptor();
    expect(tracing.enabled).toBe(true);
    const stored = await tracing.enqueue(request, (r) =>
      Promise.resolve({ runIds: ['r1'], carrier: r.carrier }),
    );
    expect(stored).toEqual({ runIds: ['r1'], carrier: null });
    await tracing.attempt(task, () => Promise.resolve({ outcome: 'released' }));
    expect(
      exporter
        .getFinishedSpans()
        .map((s) => [
          s.name,
          s.attributes['underway.outcome'],
          s.attributes['underway.run_id'],
        ]),
    ).toEqual([
      ['underway.enqueue signup', undefined, 'r1'],
      ['underway.step signup.resolve', 'released', task.runId],
    ]);
  });
});
