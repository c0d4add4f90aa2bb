import type { UnderwayMigrationDefinition } from './underway-migration';

/**
 * Version 4: the trace context of a run. `trace_context` holds the W3C
 * context (`traceparent`, `tracestate`) of the `enqueue` that wrote the run,
 * as OpenTelemetry's propagator injected it, so that every step and activity
 * attempt, in any process and after a reclaim, continues that trace. `null`
 * when no OpenTelemetry SDK (or no propagator) was installed at enqueue.
 *
 * Additive and cheap: a nullable column without a default is a catalog change
 * only (no table rewrite, a brief lock).
 */
export const UnderwayTraceContext: UnderwayMigrationDefinition = {
  version: 4,
  timestamp: 1700000000003,
  name: 'UnderwayTraceContext',
  up: (s) => [`alter table ${s}.workflow_run add column trace_context jsonb`],
  down: (s) => [
    `alter table ${s}.workflow_run drop column if exists trace_context`,
    `delete from ${s}.migration where version = 4`,
  ],
};
