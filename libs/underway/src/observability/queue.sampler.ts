import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import { readQueueStats } from './queue-stats';
import type { UnderwayMetrics } from './underway-metrics';

/**
 * Samples the queue for the gauges `underway.queue.depth` and
 * `underway.queue.oldest_due_age`: one statement per maintenance pass (every
 * `maintenanceInterval`), whatever the scrape interval, and none at all
 * without an OpenTelemetry SDK. Covers the workflows this instance runs.
 */
export class QueueSampler {
  constructor(
    private readonly metrics: UnderwayMetrics,
    private readonly schema: Schema,
    private readonly workflows: readonly string[],
  ) {}

  async sample(executor: SqlExecutor): Promise<void> {
    if (!this.metrics.enabled) {
      return;
    }
    this.metrics.sampled(
      await readQueueStats(executor, this.schema, this.workflows),
    );
  }
}
