import { Logger } from '@nestjs/common';
import { isDeepStrictEqual } from 'node:util';
import type { Pool } from 'pg';
import { deserializePayload } from '../common/json-payload';
import { withTransaction } from '../database/sql-executor';
import { ident, Schema, sql } from '../database/sql';
import type {
  DeclaredSchedule,
  WorkflowDefinition,
} from '../discovery/workflow-definition';
import {
  databaseNow,
  deleteSchedule,
  ScheduleRow,
  upsertSchedule,
} from './schedule.sql';

const logger = new Logger('ScheduleSync');

/**
 * Brings the `@Workflow({ schedule })` rows of these workflows in line with
 * the code, at boot, under an advisory lock (namespaced by schema), so that
 * instances booting together sync once: a declared schedule is added, changed
 * (its cron, zone, input or overlap; the next tick is computed again only when
 * the cron or the zone changed) or removed when gone from the code. Schedules
 * made with the client are never touched, even under a declared key.
 * Workflows this instance does not register are left alone. The rows are
 * read, not locked: other syncs wait on the advisory lock, and a schedule
 * being fired right now is only waited for if its declaration changed.
 */
export async function syncDeclaredSchedules(
  pool: Pool,
  schema: Schema,
  definitions: readonly WorkflowDefinition[],
): Promise<void> {
  if (definitions.length === 0) {
    return;
  }
  await withTransaction(pool, async (executor) => {
    await executor.query(
      sql`select pg_advisory_xact_lock(hashtextextended(${`underway:schedules:${schema}`}, 0))`,
    );
    const now = (await executor.query<{ now: Date }>(databaseNow())).rows[0]!
      .now;
    const existing = await executor.query<ScheduleRow>(
      sql`select workflow_name, key, cron, timezone, input::text as input, overlap, source,
          next_fire_at, last_fire_at, last_run_id, skipped
        from ${ident(schema)}.schedule
        where workflow_name = any(${definitions.map((d) => d.name)}::text[])`,
    );
    const rows = new Map(
      existing.rows.map((row) => [`${row.workflow_name}\n${row.key}`, row]),
    );
    const declaredKeys = new Set<string>();
    for (const definition of definitions) {
      for (const declared of definition.schedules) {
        const id = `${definition.name}\n${declared.key}`;
        declaredKeys.add(id);
        const row = rows.get(id);
        if (row?.source === 'client') {
          logger.warn(
            `Schedule ${definition.name}/${declared.key} was made with the client, which the sync leaves alone: ` +
              'its @Workflow({ schedule }) declaration is not applied',
          );
          continue;
        }
        if (row && same(row, declared)) {
          continue;
        }
        const retimed =
          !row ||
          row.cron !== declared.expression.cron ||
          row.timezone !== declared.expression.timezone;
        await executor.query(
          upsertSchedule(schema, {
            workflowName: definition.name,
            key: declared.key,
            cron: declared.expression.cron,
            timezone: declared.expression.timezone,
            input: declared.input,
            overlap: declared.overlap,
            source: 'decorator',
            nextFireAt: retimed
              ? declared.expression.nextAfter(now)
              : row.next_fire_at,
          }),
        );
        logger.log(
          `Schedule ${definition.name}/${declared.key} ${row ? 'updated' : 'added'} from @Workflow({ schedule }): ${declared.expression.source}`,
        );
      }
    }
    for (const [id, row] of rows) {
      if (row.source === 'decorator' && !declaredKeys.has(id)) {
        await executor.query(
          deleteSchedule(schema, row.workflow_name, row.key),
        );
        logger.log(
          `Schedule ${row.workflow_name}/${row.key} removed: no longer in @Workflow({ schedule })`,
        );
      }
    }
  });
}

function same(row: ScheduleRow, declared: DeclaredSchedule): boolean {
  return (
    row.cron === declared.expression.cron &&
    row.timezone === declared.expression.timezone &&
    row.overlap === declared.overlap &&
    // jsonb keeps its own key order and spacing: compare the values.
    isDeepStrictEqual(
      deserializePayload(row.input),
      deserializePayload(declared.input),
    )
  );
}
