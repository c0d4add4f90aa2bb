import { Attributes, metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  Activity,
  Step,
  StepContext,
  StepError,
  Transition,
  Workflow,
  WorkflowRunFailedError,
} from '@underway/nestjs';
import { UnderwayMetrics } from '@underway/nestjs/observability/underway-metrics';
import { createTestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { deferred, waitFor } from '../support/wait-for';

// The metrics of SPEC §7 through @opentelemetry/api, read with the SDK's
// in-memory exporter: what they count, their bounded attributes, and the
// queue gauges sampled once per maintenance pass rather than per scrape.

interface Point {
  readonly name: string;
  readonly attributes: Attributes;
  /** A sum or gauge value, or a histogram's count. */
  readonly value: number;
}

/** The OpenTelemetry SDK of a test: a meter provider read on demand. */
class TestMetrics {
  private readonly exporter = new InMemoryMetricExporter(
    AggregationTemporality.CUMULATIVE,
  );
  private readonly reader = new PeriodicExportingMetricReader({
    exporter: this.exporter,
    exportIntervalMillis: 3_600_000,
  });
  private readonly provider = new MeterProvider({ readers: [this.reader] });

  install(): this {
    metrics.setGlobalMeterProvider(this.provider);
    return this;
  }

  async uninstall(): Promise<void> {
    metrics.disable();
    await this.provider.shutdown();
  }

  /** Every data point now (cumulative), flattened. */
  async collect(): Promise<Point[]> {
    this.exporter.reset();
    await this.reader.forceFlush();
    const points: Point[] = [];
    for (const resource of this.exporter.getMetrics()) {
      for (const scope of resource.scopeMetrics) {
        expect(scope.scope.name).toBe('@underway/nestjs');
        for (const metric of scope.metrics) {
          for (const point of metric.dataPoints) {
            const value =
              metric.dataPointType === DataPointType.HISTOGRAM
                ? (point.value as { count: number }).count
                : (point.value as number);
            points.push({
              name: metric.descriptor.name,
              attributes: point.attributes,
              value,
            });
          }
        }
      }
    }
    return points;
  }
}

/** The value of `name` at exactly these attributes (0 when absent). */
function valueOf(
  points: Point[],
  name: string,
  attributes: Attributes,
): number {
  const wanted = JSON.stringify(Object.entries(attributes).sort());
  return points
    .filter(
      (p) =>
        p.name === name &&
        JSON.stringify(Object.entries(p.attributes).sort()) === wanted,
    )
    .reduce((sum, p) => sum + p.value, 0);
}

const failures = { charge: 0 };
const gate = { open: deferred() };

@Workflow({ name: 'metered-order', retry: { initialInterval: 10 } })
class MeteredOrderWorkflow {
  @Activity({ name: 'reserve-stock' })
  async reserve(sku: string): Promise<string> {
    return `reserved:${sku}`;
  }

  @Step()
  async reserveStep(
    { sku }: { sku: string },
    ctx: StepContext<MeteredOrderWorkflow>,
  ) {
    const reservation = await ctx.call('reserve', sku);
    return Transition.next({ reservation });
  }

  @Step()
  async charge({ reservation }: { reservation: string }) {
    if (reservation === 'reserved:fatal') {
      throw StepError.fatal('declined', 'Card declined');
    }
    failures.charge += 1;
    if (failures.charge === 1) {
      throw new Error('payment gateway timeout');
    }
    return Transition.complete({ reservation });
  }
}

@Workflow({ name: 'metered-slow' })
class SlowWorkflow {
  @Step()
  async wait() {
    await gate.open.promise;
    return Transition.complete();
  }
}

describe('metrics', () => {
  let sdk: TestMetrics | undefined;

  beforeEach(() => {
    failures.charge = 0;
    gate.open = deferred();
  });

  afterEach(async () => {
    gate.open.resolve();
    await sdk?.uninstall();
    sdk = undefined;
  });

  it('counts enqueued and finished runs, step and activity attempts by outcome, with durations and queue waits, under bounded attributes', async () => {
    sdk = new TestMetrics().install();
    const { client } = await createTestApp({
      workflows: [MeteredOrderWorkflow],
    });
    const ok = await client.enqueue(MeteredOrderWorkflow, { sku: 'book' });
    const declined = await client.enqueue(MeteredOrderWorkflow, {
      sku: 'fatal',
    });
    const cancelled = await client.enqueue(
      MeteredOrderWorkflow,
      { sku: 'later' },
      { delay: '1h' },
    );
    await expect(ok.result({ timeout: 10_000 })).resolves.toEqual({
      reservation: 'reserved:book',
    });
    await expect(declined.result({ timeout: 10_000 })).rejects.toThrow(
      'Card declined',
    );
    await expect(cancelled.cancel()).resolves.toBe(true);

    const workflow = { 'underway.workflow': 'metered-order' };
    // A worker records an outcome once its commit returns, just after the
    // run's new state is visible to result(): wait for the last ones.
    const points = await waitFor(async () => {
      const now = await sdk!.collect();
      return valueOf(now, 'underway.runs.finished', {
        ...workflow,
        'underway.state': 'failed',
      }) === 1 &&
        valueOf(now, 'underway.runs.finished', {
          ...workflow,
          'underway.state': 'succeeded',
        }) === 1
        ? now
        : undefined;
    });
    const step = (name: string, outcome: string) => ({
      ...workflow,
      'underway.step': name,
      'underway.outcome': outcome,
    });
    expect(valueOf(points, 'underway.runs.enqueued', workflow)).toBe(3);
    for (const [state, count] of [
      ['succeeded', 1],
      ['failed', 1],
      ['cancelled', 1],
    ] as const) {
      expect(
        valueOf(points, 'underway.runs.finished', {
          ...workflow,
          'underway.state': state,
        }),
      ).toBe(count);
    }
    // Each run's first step suspends once on its call, then replays and succeeds.
    expect(
      valueOf(
        points,
        'underway.step.attempts',
        step('reserveStep', 'suspended'),
      ),
    ).toBe(2);
    expect(
      valueOf(
        points,
        'underway.step.attempts',
        step('reserveStep', 'succeeded'),
      ),
    ).toBe(2);
    // charge: the first attempt of one run fails and is retried; the fatal one fails once.
    expect(
      valueOf(points, 'underway.step.attempts', step('charge', 'failed')),
    ).toBe(2);
    expect(
      valueOf(points, 'underway.step.attempts', step('charge', 'succeeded')),
    ).toBe(1);
    expect(
      valueOf(points, 'underway.step.duration', step('charge', 'failed')),
    ).toBe(2);
    expect(
      valueOf(points, 'underway.activity.attempts', {
        ...workflow,
        'underway.activity': 'reserve-stock',
        'underway.outcome': 'succeeded',
      }),
    ).toBe(2);
    expect(
      valueOf(points, 'underway.activity.duration', {
        ...workflow,
        'underway.activity': 'reserve-stock',
        'underway.outcome': 'succeeded',
      }),
    ).toBe(2);
    // First claims of each step (two runs × two steps) and the retry's
    // claim; the replays after the activity are left out.
    expect(valueOf(points, 'underway.run.queue_wait', workflow)).toBe(5);

    // Bounded label sets: only these keys, and never a run id.
    const allowed = new Set([
      'underway.workflow',
      'underway.step',
      'underway.activity',
      'underway.state',
      'underway.outcome',
    ]);
    const ids = [ok.id, declined.id, cancelled.id];
    for (const point of points) {
      for (const [key, value] of Object.entries(point.attributes)) {
        expect(allowed).toContain(key);
        expect(ids).not.toContain(value);
      }
    }
  });

  it('counts a step attempt whose worker died (lease expired) and the run it fails', async () => {
    sdk = new TestMetrics().install();
    const { client, schema } = await createTestApp({
      workflows: [SlowWorkflow],
      underway: { runtime: false },
    });
    // A claim by a worker that then vanished: running, on its last attempt, lease lapsed.
    const run = await client.enqueue(SlowWorkflow, undefined);
    await query(
      `update ${schema}.workflow_run set state = 'running', attempt = max_attempts, fence = fence + 1,
         attempt_started_at = now(), lease_owner = 'gone', lease_expires_at = now() - interval '1 second'
       where id = $1`,
      [run.id],
    );
    const { app: worker } = await createTestApp({
      workflows: [SlowWorkflow],
    });
    await expect(run.result({ timeout: 30_000 })).rejects.toThrow(
      WorkflowRunFailedError,
    );
    // Recorded once the sweep's statements return, just after the run's new
    // state is visible to result().
    const points = await waitFor(async () => {
      const now = await sdk!.collect();
      return valueOf(now, 'underway.step.attempts', {
        'underway.workflow': 'metered-slow',
        'underway.step': 'wait',
        'underway.outcome': 'lease_expired',
      }) === 1
        ? now
        : undefined;
    });
    expect(
      valueOf(points, 'underway.runs.finished', {
        'underway.workflow': 'metered-slow',
        'underway.state': 'failed',
      }),
    ).toBe(1);
    await worker.close();
  }, 60_000);

  it('samples the queue gauges once per maintenance pass, not per scrape', async () => {
    sdk = new TestMetrics().install();
    // Enqueued before the worker starts: three due runs and one due in an hour.
    const { client } = await createTestApp({
      workflows: [SlowWorkflow],
      underway: { runtime: false },
    });
    await client.enqueueMany(SlowWorkflow, [undefined, undefined, undefined]);
    await client.enqueue(SlowWorkflow, undefined, { delay: '1h' });
    // One slot: it claims one run at once, which waits on the gate. Its first
    // maintenance pass runs within a second, the next one an hour later.
    await createTestApp({
      workflows: [SlowWorkflow],
      underway: { runtime: { concurrency: 1, maintenanceInterval: '1h' } },
    });
    const workflow = { 'underway.workflow': 'metered-slow' };
    const depth = (points: Point[], state: string) =>
      valueOf(points, 'underway.queue.depth', {
        ...workflow,
        'underway.state': state,
      });
    const sampled = await waitFor(
      async () => {
        const points = await sdk!.collect();
        return depth(points, 'pending') === 3 ? points : undefined;
      },
      { timeoutMs: 5_000 },
    );
    expect(depth(sampled, 'running')).toBe(1);
    expect(depth(sampled, 'waiting')).toBe(0);
    const age = valueOf(sampled, 'underway.queue.oldest_due_age', workflow);
    expect(age).toBeGreaterThan(0);
    expect(age).toBeLessThan(60_000);

    // More work arrives; scrapes keep reporting the last sample.
    await client.enqueueMany(SlowWorkflow, [undefined, undefined]);
    for (let scrape = 0; scrape < 3; scrape += 1) {
      const points = await sdk.collect();
      expect(depth(points, 'pending')).toBe(3);
      expect(valueOf(points, 'underway.queue.oldest_due_age', workflow)).toBe(
        age,
      );
    }
  });

  it('stays off without an SDK (the worker runs as before)', async () => {
    const { app, client } = await createTestApp({
      workflows: [MeteredOrderWorkflow],
    });
    expect(app.get(UnderwayMetrics).enabled).toBe(false);
    const run = await client.enqueue(MeteredOrderWorkflow, { sku: 'book' });
    await expect(run.result({ timeout: 10_000 })).resolves.toEqual({
      reservation: 'reserved:book',
    });
  });
});
