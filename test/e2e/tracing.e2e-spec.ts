import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  Activity,
  defineSignal,
  Step,
  StepContext,
  Transition,
  Workflow,
} from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';
import { cleanupFaults, prepareFaultEnv } from '../support/fault-env';
import { waitForStep } from '../support/worker-process';
import { query } from '../support/database';
import { deferred, waitFor } from '../support/wait-for';

// The traces of SPEC §7 through @opentelemetry/api, read with the SDK's
// in-memory exporter: one trace from the enqueue to every step and activity
// attempt, restored from the database by whichever instance claims the work.

/** Values that must never appear in a span: the run's input, step inputs, outputs, results. */
const SECRETS = ['INPUT-SECRET', 'STEP-SECRET', 'RESULT-SECRET', 'OUT-SECRET'];

const attempts = { first: 0 };
const gate = { open: deferred(), entered: deferred() };

@Workflow({ name: 'traced', retry: { initialInterval: 10 } })
class TracedWorkflow {
  @Activity({ name: 'lookup' })
  async lookup(secret: string): Promise<string> {
    // The user's own span nests under the activity attempt's.
    trace.getTracer('app').startSpan('app.lookup').end();
    return `RESULT-SECRET:${secret.length}`;
  }

  @Step()
  async first({ secret }: { secret: string }) {
    attempts.first += 1;
    if (attempts.first === 1) {
      throw new Error('flaky upstream');
    }
    trace.getTracer('app').startSpan('app.first').end();
    return Transition.next({ secret: `STEP-SECRET:${secret.length}` });
  }

  @Step()
  async second(
    { secret }: { secret: string },
    ctx: StepContext<TracedWorkflow>,
  ) {
    const found = await ctx.call('lookup', secret);
    return Transition.complete({ out: `OUT-SECRET:${found.length}` });
  }
}

const Approval = defineSignal<{ by: string }>('traced-approval');

@Workflow({ name: 'traced-signal' })
class SignalledWorkflow {
  @Step()
  async decide(_input: unknown, ctx: StepContext) {
    const approval = await ctx.waitFor(Approval);
    return Transition.complete({ by: approval?.by });
  }
}

@Workflow({ name: 'traced-slow' })
class SlowWorkflow {
  @Step()
  async wait(_input: unknown, ctx: StepContext) {
    gate.entered.resolve();
    await new Promise<void>((resolve, reject) => {
      void gate.open.promise.then(resolve);
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), {
        once: true,
      });
    });
    return Transition.complete();
  }
}

function spanId(span: ReadableSpan): string {
  return span.spanContext().spanId;
}

function traceId(span: ReadableSpan): string {
  return span.spanContext().traceId;
}

describe('traces without an SDK', () => {
  it('stores no trace context and records nothing', async () => {
    const { client, schema } = await createTestApp({
      workflows: [TracedWorkflow],
    });
    attempts.first = 1; // no failure: just run it through
    const run = await client.enqueue(TracedWorkflow, { secret: 'x' });
    await run.result({ timeout: 10_000 });
    const many = await client.enqueueMany(TracedWorkflow, [{ secret: 'y' }]);
    await many[0]!.result({ timeout: 10_000 });
    expect(
      await query(`select trace_context from ${schema}.workflow_run`),
    ).toEqual([{ trace_context: null }, { trace_context: null }]);
  });
});

describe('traces', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });

  beforeAll(() => {
    context.setGlobalContextManager(
      new AsyncLocalStorageContextManager().enable(),
    );
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(provider);
  });

  afterAll(async () => {
    trace.disable();
    propagation.disable();
    context.disable();
    await provider.shutdown();
  });

  beforeEach(() => {
    exporter.reset();
    attempts.first = 0;
    gate.open = deferred();
    gate.entered = deferred();
  });

  afterEach(async () => {
    gate.open.resolve();
    await cleanupFaults();
  });

  it('traces a run from the enqueue through a retried step and an activity call, with links, outcomes and no payloads', async () => {
    const { client, schema } = await createTestApp({
      workflows: [TracedWorkflow],
    });
    const request = trace.getTracer('app').startSpan('app.request');
    const run = await context.with(
      trace.setSpan(context.active(), request),
      () => client.enqueue(TracedWorkflow, { secret: 'INPUT-SECRET' }),
    );
    request.end();
    await expect(run.result({ timeout: 10_000 })).resolves.toEqual({
      out: expect.stringMatching(/^OUT-SECRET/) as string,
    });

    const named = (name: string) =>
      exporter.getFinishedSpans().filter((s) => s.name === name);
    // A span ends once its attempt's commit returns, just after result() sees it.
    await waitFor(
      () =>
        named('underway.step traced.second').length === 2 &&
        named('app.lookup').length === 1,
      { message: 'the last spans' },
    );
    const spans = exporter.getFinishedSpans();
    const [enqueue] = named('underway.enqueue traced');
    expect(enqueue).toBeDefined();
    expect(enqueue!.kind).toBe(SpanKind.PRODUCER);
    expect(enqueue!.parentSpanContext?.spanId).toBe(
      request.spanContext().spanId,
    );
    expect(enqueue!.attributes).toMatchObject({
      'underway.workflow': 'traced',
      'underway.run_id': run.id,
      'messaging.system': 'underway',
      'messaging.operation.type': 'send',
    });

    const [stored] = await query<{ trace_context: Record<string, string> }>(
      `select trace_context from ${schema}.workflow_run where id = $1`,
      [run.id],
    );
    expect(stored!.trace_context.traceparent).toBe(
      `00-${traceId(enqueue!)}-${spanId(enqueue!)}-01`,
    );

    const consumers = spans
      .filter((s) => s.kind === SpanKind.CONSUMER)
      .sort(
        (a, b) =>
          a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1],
      );
    expect(
      consumers.map((s) => [
        s.name,
        s.attributes['underway.attempt'],
        s.attributes['underway.outcome'],
      ]),
    ).toEqual([
      ['underway.step traced.first', 1, 'failed'],
      ['underway.step traced.first', 2, 'succeeded'],
      ['underway.step traced.second', 1, 'suspended'],
      ['underway.activity traced.lookup', 1, 'succeeded'],
      ['underway.step traced.second', 1, 'succeeded'],
    ]);
    for (const span of consumers) {
      // One trace: each attempt is a child of the enqueue, and linked to it.
      expect(traceId(span)).toBe(traceId(enqueue!));
      expect(span.parentSpanContext?.spanId).toBe(spanId(enqueue!));
      expect(span.links.map((l) => l.context.spanId)).toEqual([
        spanId(enqueue!),
      ]);
      expect(span.attributes).toMatchObject({
        'underway.workflow': 'traced',
        'underway.run_id': run.id,
      });
    }
    expect(consumers[3]!.attributes).toMatchObject({
      'underway.step': 'second',
      'underway.activity': 'lookup',
      'underway.call_index': 0,
    });
    expect(consumers[0]!.attributes['underway.step']).toBe('first');

    // The failed attempt records its error; the others (a suspension too) do not.
    const [failed, ...others] = consumers;
    expect(failed!.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: 'flaky upstream',
    });
    expect(failed!.events.map((e) => [e.name, e.attributes])).toEqual([
      [
        'exception',
        expect.objectContaining({
          'exception.type': 'Error',
          'exception.message': 'flaky upstream',
        }),
      ],
    ]);
    for (const span of others) {
      expect(span.status.code).not.toBe(SpanStatusCode.ERROR);
      expect(span.events).toEqual([]);
    }

    // The user's spans nest under the attempt that ran them.
    const [appFirst] = named('app.first');
    const [appLookup] = named('app.lookup');
    expect(appFirst!.parentSpanContext?.spanId).toBe(spanId(consumers[1]!));
    expect(appLookup!.parentSpanContext?.spanId).toBe(spanId(consumers[3]!));

    // No input, step input, output or activity result in any span.
    const recorded = JSON.stringify(
      spans.map((s) => [s.name, s.attributes, s.events, s.status]),
    );
    for (const secret of SECRETS) {
      expect(recorded).not.toContain(secret);
    }
  });

  it('links the attempt that takes a signal to the span the signal was sent from', async () => {
    const { client, schema } = await createTestApp({
      workflows: [SignalledWorkflow],
    });
    const run = await client.enqueue(SignalledWorkflow, {});
    await waitFor(async () => {
      const [row] = await query<{ state: string }>(
        `select state from ${schema}.workflow_run where id = $1 and open_calls = 1`,
        [run.id],
      );
      return row?.state === 'waiting';
    });
    const webhook = trace.getTracer('app').startSpan('app.webhook');
    await context.with(trace.setSpan(context.active(), webhook), () =>
      client.signal(run.id, Approval, { by: 'ana' }),
    );
    webhook.end();
    await expect(run.result({ timeout: 10_000 })).resolves.toEqual({
      by: 'ana',
    });
    const attempts = () =>
      exporter
        .getFinishedSpans()
        .filter((s) => s.name === 'underway.step traced-signal.decide');
    await waitFor(() => attempts().length === 2, { message: 'both attempts' });
    const [suspended, resumed] = attempts().sort(
      (a, b) =>
        a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1],
    );
    expect(
      suspended!.links.filter((l) => l.attributes?.['underway.signal']),
    ).toEqual([]);
    expect(
      resumed!.links
        .filter((l) => l.attributes?.['underway.signal'])
        .map((l) => [l.context.spanId, l.attributes?.['underway.signal']]),
    ).toEqual([[webhook.spanContext().spanId, 'traced-approval']]);
    // The stored context is the sender's, never the payload.
    const [stored] = await query<{ traceparent: string }>(
      `select trace_context->>'traceparent' as traceparent from ${schema}.signal`,
    );
    expect(stored!.traceparent).toBe(
      `00-${webhook.spanContext().traceId}-${webhook.spanContext().spanId}-01`,
    );
  });

  it('enqueueMany writes one PRODUCER span for the batch, its context stored with every run', async () => {
    const { client, schema } = await createTestApp({
      workflows: [TracedWorkflow],
      underway: { runtime: false },
    });
    await client.enqueueMany(TracedWorkflow, [
      { secret: 'a' },
      { secret: 'b' },
    ]);
    const [enqueue, ...more] = exporter.getFinishedSpans();
    expect(more).toEqual([]);
    expect(enqueue!.attributes['messaging.batch.message_count']).toBe(2);
    const rows = await query<{ traceparent: string }>(
      `select trace_context->>'traceparent' as traceparent from ${schema}.workflow_run`,
    );
    expect(rows.map((r) => r.traceparent)).toEqual([
      `00-${traceId(enqueue!)}-${spanId(enqueue!)}-01`,
      `00-${traceId(enqueue!)}-${spanId(enqueue!)}-01`,
    ]);
  });

  it('restores the trace context from the database in another instance that takes the run over', async () => {
    // The producer only enqueues; the first worker is stopped mid-step (its
    // claim given back), and a fresh instance on the same schema finishes
    // the run: what it knows of the trace comes from the database.
    const producer = await createTestApp({
      workflows: [SlowWorkflow],
      underway: { runtime: false },
    });
    const run = await producer.client.enqueue(SlowWorkflow);
    await producer.close();
    const [enqueue] = exporter.getFinishedSpans();

    const first = await createTestApp({
      workflows: [SlowWorkflow],
      underway: { shutdownTimeout: 50 },
    });
    await gate.entered.promise;
    await first.close();
    gate.open.resolve();

    const second = await createTestApp({ workflows: [SlowWorkflow] });
    await second.client.run(run.id, 'traced-slow').result({ timeout: 10_000 });
    const steps = await waitFor(() => {
      const found = exporter
        .getFinishedSpans()
        .filter((s) => s.name === 'underway.step traced-slow.wait');
      return found.length === 2 ? found : undefined;
    });
    expect(steps.map((s) => s.attributes['underway.outcome'])).toEqual([
      'released',
      'succeeded',
    ]);
    for (const span of steps) {
      expect(traceId(span)).toBe(traceId(enqueue!));
      expect(span.parentSpanContext?.spanId).toBe(spanId(enqueue!));
      expect(span.links.map((l) => l.context.spanId)).toEqual([
        spanId(enqueue!),
      ]);
      expect(span.attributes['underway.attempt']).toBe(1);
    }
  });

  it('continues the trace in a worker process that takes the run over after another was killed mid-step', async () => {
    // The producer (this process, with the SDK) enqueues; worker A (a child
    // process with its own SDK) is SIGKILLed mid-step; worker B reclaims the
    // run once A's lease lapses: its span continues the trace from the row.
    const env = await prepareFaultEnv({ leaseMs: 1_000 });
    const run = await env.client.enqueue('fault-single', { sleepMs: 1_500 });
    const enqueue = exporter
      .getFinishedSpans()
      .find((s) => s.name === 'underway.enqueue fault-single');
    expect(enqueue).toBeDefined();

    const a = env.startWorker({
      instance: 'trace-a',
      pollMs: 50,
      traces: true,
    });
    await waitForStep([a], { runId: run.id, attempt: 1 });
    a.kill('SIGKILL');
    await a.exitWithin(10_000);

    const b = env.startWorker({
      instance: 'trace-b',
      pollMs: 50,
      traces: true,
    });
    const span = await b.waitForEvent(
      (e) =>
        e.event === 'span' &&
        e.name === 'underway.step fault-single.only' &&
        e.attributes['underway.outcome'] === 'succeeded'
          ? e
          : undefined,
      { timeoutMs: 30_000, what: 'the step span of worker B' },
    );
    expect(span).toMatchObject({
      kind: SpanKind.CONSUMER,
      traceId: traceId(enqueue!),
      parentSpanId: spanId(enqueue!),
      links: [spanId(enqueue!)],
      attributes: {
        'underway.workflow': 'fault-single',
        'underway.run_id': run.id,
        'underway.step': 'only',
        'underway.attempt': 2,
      },
    });
  });
});
