import type { SqlQuery } from '../../libs/underway/src/database/sql';
import type { Schema } from '../../libs/underway/src/database/sql';
import {
  selectActiveCounts,
  selectFinishedCounts,
  selectRunsPage,
} from '../../libs/underway/src/dashboard/dashboard.sql';
import {
  parseRunsFilter,
  RUNS_SCAN_WINDOW,
  uuidv7Floor,
} from '../../libs/underway/src/dashboard/runs-filter';
import { createTestApp } from '../support/create-test-app';
import { testPool } from '../support/database';

// The dashboard's reads on 1,000,000 runs (DASHBOARD_EXPLAIN_RUNS to change
// it): each plan walks an index, never the whole table, and looks at a
// bounded number of rows however many runs there are. The plans, with their
// times, are printed with DASHBOARD_EXPLAIN_PRINT=1 (README "Dashboard").

const RUNS = Number(process.env.DASHBOARD_EXPLAIN_RUNS ?? 1_000_000);
const TTL_MS = 1_209_600_000;
const MS_PER_RUN = 864; // 1,000,000 runs over 10 days

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

interface Explained {
  plan: PlanNode;
  ms: number;
  text: string;
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/** The rows each scan of workflow_run read (returned or filtered out). */
function rowsRead(plan: PlanNode): number {
  return nodes(plan)
    .filter((n) => n['Relation Name'] === 'workflow_run')
    .reduce(
      (sum, n) =>
        sum +
        (n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0)) *
          n['Actual Loops'],
      0,
    );
}

async function explain(query: SqlQuery): Promise<Explained> {
  const client = await testPool().connect();
  try {
    const [json] = (
      await client.query<{
        'QUERY PLAN': [{ Plan: PlanNode; 'Execution Time': number }];
      }>(`explain (analyze, format json) ${query.text}`, [...query.values])
    ).rows;
    const text = (
      await client.query<{ 'QUERY PLAN': string }>(
        `explain (analyze, costs off, timing off, summary off) ${query.text}`,
        [...query.values],
      )
    ).rows
      .map((r) => r['QUERY PLAN'])
      .join('\n');
    const [result] = json!['QUERY PLAN'];
    return { plan: result.Plan, ms: result['Execution Time'], text };
  } finally {
    client.release();
  }
}

describe('the dashboard’s queries on a large table', () => {
  jest.setTimeout(300_000);

  it(`walk an index, never the whole table, on ${RUNS.toLocaleString('en')} runs`, async () => {
    const { schema } = await createTestApp({ underway: { runtime: false } });
    const s = schema as Schema;
    const now = Date.now();
    // 97% succeeded, 1.5% failed, 0.5% cancelled, 1% unfinished; five
    // workflows, one of them rare (1 run in 10,000).
    await testPool().query(
      `insert into ${schema}.workflow_run (id, workflow_name, state, input, output, error, attempt,
         max_attempts, run_at, lease_ms, ttl_ms, created_at, updated_at, started_at, completed_at,
         expires_at, lease_expires_at)
       select
         (lpad(to_hex(ms), 12, '0') || '7' || substr(h, 1, 3) || '8' || substr(h, 4, 15))::uuid,
         (array['signup', 'order-receipt', 'daily-report', 'image-pipeline', 'rare'])
           [case when g % 10000 = 0 then 5 else 1 + g % 4 end],
         st, '{"userId": 1}', case when st = 'succeeded' then '{"ok": true}'::jsonb end,
         case when st = 'failed' then '{"code": "error", "message": "boom"}'::jsonb end,
         1, 5, t, 30000, $3::bigint, t, t, t,
         case when st in ('succeeded', 'failed', 'cancelled') then t + interval '2 seconds' end,
         case when st in ('succeeded', 'failed', 'cancelled')
           then t + interval '2 seconds' + $3::bigint * interval '1 millisecond' end,
         case when st = 'running' then now() + interval '30 seconds' end
       from (
         select g, md5(g::text) as h, ms, to_timestamp(ms / 1000.0) as t,
           case when g % 1000 < 970 then 'succeeded' when g % 1000 < 985 then 'failed'
             when g % 1000 < 990 then 'cancelled' when g % 1000 < 996 then 'pending'
             when g % 1000 < 998 then 'running' else 'waiting' end as st
         from (select g, ($1::bigint - ($2::bigint - g) * ${MS_PER_RUN}) as ms
               from generate_series(1, $2::int) g) x
       ) y`,
      [now, RUNS, TTL_MS],
    );
    await testPool().query(`analyze ${schema}.workflow_run`);

    const page = (params: Record<string, string>) =>
      selectRunsPage(s, parseRunsFilter(params).query);
    const middle = uuidv7Floor(now - (RUNS / 2) * MS_PER_RUN);
    const cases: [string, SqlQuery, number][] = [
      // [what, query, most rows it may read]
      ['runs, first page', page({}), 51],
      [
        'runs, a page half-way down (keyset cursor)',
        page({ before: middle }),
        51,
      ],
      [
        'runs, one hour of enqueue time',
        page({
          from: new Date(now - 7_200_000).toISOString().slice(0, 19),
          to: new Date(now - 3_600_000).toISOString().slice(0, 19),
        }),
        51,
      ],
      ['runs, state pending', page({ state: 'pending' }), 20_000],
      ['runs, state running', page({ state: 'running' }), 20_000],
      [
        'runs, state failed (bounded walk)',
        page({ state: 'failed' }),
        RUNS_SCAN_WINDOW + 51,
      ],
      [
        'runs, a rare workflow (bounded walk)',
        page({ workflow: 'rare' }),
        RUNS_SCAN_WINDOW + 51,
      ],
      [
        'runs, a rare workflow, failed, page half-way down',
        page({ workflow: 'rare', state: 'failed', before: middle }),
        RUNS_SCAN_WINDOW + 51,
      ],
      [
        'overview, unfinished runs and oldest due',
        selectActiveCounts(s),
        20_000,
      ],
      [
        'overview, runs finished in the last hour',
        selectFinishedCounts(s, [TTL_MS, 86_400_000], 3_600_000),
        // ~4,000 finished an hour, plus the unfinished runs for their retentions.
        40_000,
      ],
    ];
    const report: string[] = [];
    for (const [what, query, bound] of cases) {
      const { plan, ms, text } = await explain(query);
      report.push(
        `-- ${what}: ${ms.toFixed(1)} ms, ${rowsRead(plan).toLocaleString('en')} rows read\n${text}`,
      );
      if (process.env.DASHBOARD_EXPLAIN_PRINT === '1') {
        process.stdout.write(`\n${report[report.length - 1]}\n`);
      }
      const scans = nodes(plan).filter(
        (n) => n['Relation Name'] === 'workflow_run',
      );
      expect({
        what,
        seqScans: scans.filter((n) => n['Node Type'] === 'Seq Scan').length,
      }).toEqual({
        what,
        seqScans: 0,
      });
      expect(scans.length).toBeGreaterThan(0);
      const read = rowsRead(plan);
      expect({ what, withinBound: read <= bound }).toEqual({
        what,
        withinBound: true,
      });
    }
  });
});
