import type { SqlQuery } from '../../libs/underway/src/database/sql';
import type { Schema } from '../../libs/underway/src/database/sql';
import {
  selectActiveCounts,
  selectFinishedCounts,
  selectRunsPage,
} from '../../libs/underway/src/dashboard/dashboard.sql';
import {
  selectChildCounts,
  selectChildrenPage,
} from '../../libs/underway/src/dashboard/children.sql';
import { selectDeadLettersWaiting } from '../../libs/underway/src/dashboard/dead-letters.sql';
import {
  CALL_ATTEMPTS_SHOWN,
  CHILD_OUTPUT_CHARS,
  LIST_PAGE_SIZE,
  RUN_PAYLOAD_CHARS,
  RUN_CHILDREN_SHOWN,
  RUN_PAYLOAD_MAX_STORED,
  RUN_SIGNALS_SHOWN,
  STEP_ATTEMPTS_SHOWN,
  STEP_CALLS_SHOWN,
  STEP_PAGE_SIZE,
} from '../../libs/underway/src/dashboard/page-bounds';
import { selectRunPageRun } from '../../libs/underway/src/dashboard/run-page.sql';
import {
  selectStepDetails,
  selectStepSummaries,
} from '../../libs/underway/src/dashboard/run-timeline.sql';
import { selectSchedulesPage } from '../../libs/underway/src/dashboard/schedules.sql';
import {
  selectSignalCounts,
  selectSignalsPage,
} from '../../libs/underway/src/dashboard/signals.sql';
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

/** The tables the dashboard reads; a plan may scan none of them whole. */
const TABLES = new Set([
  'workflow_run',
  'schedule',
  'step_attempt',
  'activity_call',
  'activity_attempt',
  'dead_letter',
  'signal',
]);

/** The rows each scan of the tables read (returned or filtered out). */
function rowsRead(plan: PlanNode): number {
  return nodes(plan)
    .filter((n) => TABLES.has(n['Relation Name'] ?? ''))
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
    // The same run ids, as SQL (run g of the insert above).
    const runId = (g: string) =>
      `(lpad(to_hex(($1::bigint - ($2::bigint - ${g}) * ${MS_PER_RUN})), 12, '0') || '7'
        || substr(md5(${g}::text), 1, 3) || '8' || substr(md5(${g}::text), 4, 15))::uuid`;
    // 100,000 per-tenant schedules, each with its last run.
    await testPool().query(
      `insert into ${schema}.schedule (workflow_name, key, cron, timezone, source, next_fire_at, last_run_id)
       select 'tenant-report', 'tenant-' || lpad(g::text, 6, '0'), '0 3 * * *', 'UTC', 'client',
         now() + interval '1 day', ${runId('g')}
       from generate_series(1, 100000) g`,
      [now, RUNS],
    );
    // The newest run fanned out 10,000 activity calls at step 1; 20,000
    // other runs made 10 calls each.
    const fanOut = (
      await testPool().query<{ id: string }>(`select ${runId('$2')} as id`, [
        now,
        RUNS,
      ])
    ).rows[0]!.id;
    await testPool().query(
      `insert into ${schema}.activity_call (run_id, step_index, call_index, kind, workflow_name, name, args,
         state, attempt, max_attempts, lease_ms, started_at, completed_at)
       select run_id, 1, c, 'call', 'signup', 'lookup', '{}', 'succeeded', 1, 3, 30000, now(), now()
       from (select ${runId('g')} as run_id, c from generate_series(1, 20000) g, generate_series(0, 9) c
             union all
             select $3::uuid, c from generate_series(0, 9999) c) x`,
      [now, RUNS, fanOut],
    );
    await testPool().query(
      `insert into ${schema}.activity_attempt (run_id, step_index, call_index, attempt, state, worker, started_at)
       select run_id, step_index, call_index, 1, 'succeeded', 'w', now() from ${schema}.activity_call`,
    );
    // Its 30 attempts at step 0, among one attempt of each of 200,000 other runs.
    await testPool().query(
      `insert into ${schema}.step_attempt (run_id, step_index, attempt, state, worker, started_at)
       select $3::uuid, 0, g, 'failed', 'w', now() from generate_series(1, 30) g
       union all
       select ${runId('g')}, 0, 1, 'succeeded', 'w', now() from generate_series(1, 200000) g`,
      [now, RUNS, fanOut],
    );
    // 20,000 dead letters in 200 queues, all but 1,000 of them redriven.
    await testPool().query(
      `insert into ${schema}.dead_letter (queue, run_id, workflow_name, input, error, redriven_at)
       select 'queue-' || (g % 200), ${runId('g')}, 'signup', '{}', '{"code": "x", "message": "x"}',
         case when g % 20 <> 0 then now() end
       from generate_series(1, 20000) g`,
      [now, RUNS],
    );
    // 10,000 signals sent to it, among one to each of 200,000 other runs.
    await testPool().query(
      `insert into ${schema}.signal (id, run_id, name, payload, state)
       select gen_random_uuid(), run_id, 'approval', '{"approved": true}',
         case when g % 2 = 0 then 'consumed' else 'pending' end
       from (select ${runId('g')} as run_id, g from generate_series(1, 200000) g
             union all
             select $3::uuid, g from generate_series(1, 10000) g) x`,
      [now, RUNS, fanOut],
    );
    // The second newest run made 1,000 calls at step 0, then started 10,000
    // children at step 1.
    const parent = (
      await testPool().query<{ id: string }>(
        `select ${runId('($2::int - 1)')} as id`,
        [now, RUNS],
      )
    ).rows[0]!.id;
    await testPool().query(
      `insert into ${schema}.activity_call (run_id, step_index, call_index, kind, workflow_name, name, args,
         state, attempt, max_attempts, lease_ms, started_at, completed_at)
       select $1, 0, c, 'call', 'image-pipeline', 'resize', '{}', 'succeeded', 1, 3, 30000, now(), now()
       from generate_series(0, 999) c`,
      [parent],
    );
    await testPool().query(
      `with child as (
         select c, gen_random_uuid() as id,
           case when c % 10 = 0 then 'running' when c % 10 = 1 then 'failed' else 'succeeded' end as state
         from generate_series(0, 9999) c
       ), runs as (
         insert into ${schema}.workflow_run (id, workflow_name, state, input, max_attempts, lease_ms, ttl_ms,
           parent_run_id, parent_step_index, parent_call_index, parent_close)
         select id, 'thumbnail', state, '{}', 5, 30000, $2::bigint, $1, 1, c, 'cancel' from child
       )
       insert into ${schema}.activity_call (run_id, step_index, call_index, kind, workflow_name, name, args,
         state, attempt, max_attempts, lease_ms, run_at, child_run_id, completed_at)
       select $1, 1, c, 'child', 'image-pipeline', 'thumbnail', '[{}]',
         case when state = 'running' then 'waiting' else state end, 0, 1, 1, 'infinity', id,
         case when state <> 'running' then now() end
       from child`,
      [parent, TTL_MS],
    );
    const [child] = (
      await testPool().query<{ id: string }>(
        `select id from ${schema}.workflow_run where parent_run_id = $1 and parent_call_index = 5000`,
        [parent],
      )
    ).rows;
    const [middleSignal] = (
      await testPool().query<{ seq: string }>(
        `select seq::text from ${schema}.signal where run_id = $1 order by seq offset 5000 limit 1`,
        [fanOut],
      )
    ).rows;
    for (const table of [
      'signal',
      'workflow_run',
      'schedule',
      'activity_call',
      'activity_attempt',
      'step_attempt',
      'dead_letter',
    ]) {
      await testPool().query(`analyze ${schema}.${table}`);
    }

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
      [
        'overview, dead letters to redrive (1,000 of 20,000)',
        selectDeadLettersWaiting(s),
        1_000,
      ],
      // A page of schedules: the page's rows, and a run for each.
      [
        'schedules, first page (of 100,000)',
        selectSchedulesPage(
          s,
          { kind: 'first' },
          { limit: LIST_PAGE_SIZE + 1, input: null },
        ),
        2 * (LIST_PAGE_SIZE + 1),
      ],
      [
        'schedules, a page half-way down (keyset cursor)',
        selectSchedulesPage(
          s,
          { kind: 'after', key: ['tenant-report', 'tenant-050000'] },
          { limit: LIST_PAGE_SIZE + 1, input: null },
        ),
        2 * (LIST_PAGE_SIZE + 1),
      ],
      [
        'schedules, last page',
        selectSchedulesPage(
          s,
          { kind: 'last' },
          {
            limit: LIST_PAGE_SIZE + 1,
            input: { chars: 300, maxStoredBytes: 8192 },
          },
        ),
        2 * (LIST_PAGE_SIZE + 1),
      ],
      [
        'a run’s page: the run and its dead-letter entry',
        selectRunPageRun(s, fanOut, {
          chars: RUN_PAYLOAD_CHARS,
          maxStoredBytes: RUN_PAYLOAD_MAX_STORED,
        }),
        2,
      ],
      [
        'a run’s page: its steps counted (30 attempts, 10,000 calls)',
        selectStepSummaries(s, fanOut),
        10_030,
      ],
      [
        'a run’s page: what the timeline lists',
        selectStepDetails(
          s,
          fanOut,
          [
            {
              stepIndex: 0,
              attemptsBefore: 2_147_483_647,
              attempts: STEP_ATTEMPTS_SHOWN,
              callsAfter: -1,
              calls: STEP_CALLS_SHOWN,
            },
            {
              stepIndex: 1,
              attemptsBefore: 2_147_483_647,
              attempts: STEP_ATTEMPTS_SHOWN,
              callsAfter: 5_000,
              calls: STEP_PAGE_SIZE,
            },
          ],
          CALL_ATTEMPTS_SHOWN,
          { chars: CHILD_OUTPUT_CHARS, maxStoredBytes: 8192 },
        ),
        // Attempts, calls and each call's attempts, as listed.
        STEP_ATTEMPTS_SHOWN +
          STEP_CALLS_SHOWN +
          STEP_PAGE_SIZE * (1 + CALL_ATTEMPTS_SHOWN),
      ],
      [
        'a run’s page: its signals counted (10,000)',
        selectSignalCounts(s, fanOut),
        10_000,
      ],
      [
        'a run’s page: its latest signals',
        selectSignalsPage(
          s,
          fanOut,
          { kind: 'last' },
          {
            limit: RUN_SIGNALS_SHOWN + 1,
            payload: { chars: 300, maxStoredBytes: 8192 },
          },
        ),
        RUN_SIGNALS_SHOWN + 1,
      ],
      [
        'a run’s page: a page of a step’s children in its timeline, with their runs’ states',
        selectStepDetails(
          s,
          parent,
          [
            {
              stepIndex: 1,
              attemptsBefore: 2_147_483_647,
              attempts: STEP_ATTEMPTS_SHOWN,
              callsAfter: 5_000,
              calls: STEP_PAGE_SIZE,
            },
          ],
          CALL_ATTEMPTS_SHOWN,
          { chars: CHILD_OUTPUT_CHARS, maxStoredBytes: 8192 },
        ),
        // Each entry, and its child's run.
        2 * STEP_PAGE_SIZE,
      ],
      [
        'a run’s page: its children counted (10,000)',
        selectChildCounts(s, parent),
        10_000,
      ],
      // A page of children: their entries, and each one's run.
      [
        'a run’s page: its latest children',
        selectChildrenPage(s, parent, { kind: 'last' }, RUN_CHILDREN_SHOWN + 1),
        2 * (RUN_CHILDREN_SHOWN + 1),
      ],
      [
        'a run’s page: a page of its children half-way (keyset cursor)',
        selectChildrenPage(
          s,
          parent,
          { kind: 'before', key: { stepIndex: 1, callIndex: 5_000 } },
          RUN_CHILDREN_SHOWN + 1,
        ),
        2 * (RUN_CHILDREN_SHOWN + 1),
      ],
      [
        'a run’s page: its first children, past 1,000 calls of an earlier step',
        selectChildrenPage(
          s,
          parent,
          { kind: 'first' },
          RUN_CHILDREN_SHOWN + 1,
        ),
        1_000 + 2 * (RUN_CHILDREN_SHOWN + 1),
      ],
      [
        'a child’s page: the run, its parent and the parent’s entry for it',
        selectRunPageRun(s, child!.id, null),
        3,
      ],
      [
        'a run’s page: a page of its signals half-way (keyset cursor)',
        selectSignalsPage(
          s,
          fanOut,
          { kind: 'before', key: middleSignal!.seq },
          { limit: RUN_SIGNALS_SHOWN + 1, payload: null },
        ),
        RUN_SIGNALS_SHOWN + 1,
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
      const scans = nodes(plan).filter((n) =>
        TABLES.has(n['Relation Name'] ?? ''),
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
