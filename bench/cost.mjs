// The database cost of one run of a one-step workflow, statement by statement:
// EXPLAIN (ANALYZE, BUFFERS, WAL) of the claim and of the commit at batch size,
// on the library's own SQL (the compiled builders in libs/underway/dist), and the
// row versions each wrote (HOT or not). Usage:
//
//   npx tsc -p libs/underway/tsconfig.lib.json && node bench/cost.mjs [--batch 500] [--runs 20000]
//
// `--variant no-attempt-row` commits without the step_attempt insert, to price it
// (an experiment: the history would lose the attempt).
//
// It uses a database of its own, bench_cost (dropped and re-created), and prints
// per-run figures: execution µs, WAL bytes and records, buffers, and for
// workflow_run and step_attempt the row versions inserted, updated in place (HOT)
// or with new index entries. Index entries written = inserts and non-HOT updates
// times the indexes whose predicate the new row version matches.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { dbSuffix, dbUrl, REPO_ROOT } from './lib/common.mjs';
import { prepareDatabases } from './lib/pgadmin.mjs';

const { values: opts } = parseArgs({
  options: {
    batch: { type: 'string', default: '500' },
    runs: { type: 'string', default: '20000' },
    variant: { type: 'string', default: '' },
  },
});
const BATCH = Number(opts.batch);
const RUNS = Number(opts.runs);
const DB = `bench_cost${dbSuffix()}`;
const SCHEMA = 'underway';
const DIST = join(REPO_ROOT, 'libs/underway/dist/libs/underway/src');
const require = createRequire(join(REPO_ROOT, 'package.json'));
const { claimRuns } = require(join(DIST, 'engine/sql/claim.sql.js'));
const { commitOutcomes } = require(join(DIST, 'engine/sql/commit.sql.js'));
const { insertRuns } = require(join(DIST, 'engine/sql/admin.sql.js'));
const { claimScope } = require(join(DIST, 'model/claim-scope.js'));
// An instance running one workflow of one version with one step, `run`.
const SCOPE = claimScope([{ name: 'bench', version: 1, steps: ['run'] }]);

await prepareDatabases([DB], { fresh: true });
execFileSync(
  process.execPath,
  [join(DIST, 'cli/main.js'), 'migrate', '--schema', SCHEMA],
  { env: { ...process.env, DATABASE_URL: dbUrl(DB) }, stdio: 'ignore' },
);
const client = new pg.Client({ connectionString: dbUrl(DB) });
await client.connect();

const uuid7 = (i) => {
  const hex = (Date.now() * 1000 + i).toString(16).padStart(12, '0').slice(-12);
  const r = randomUUID().replace(/-/g, '');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${r.slice(13, 16)}-8${r.slice(17, 20)}-${r.slice(20, 32)}`;
};
for (let i = 0; i < RUNS; i += 1000) {
  const runs = [];
  for (let j = i; j < Math.min(RUNS, i + 1000); j++) {
    runs.push({
      id: uuid7(j),
      workflowName: 'bench',
      workflowVersion: 1,
      stepName: 'run',
      input: JSON.stringify({ i: j }),
      maxAttempts: 3,
      leaseMs: 30_000,
      priority: 0,
      runPriority: 0,
      runAt: null,
      delayMs: 0,
      concurrencyKey: null,
      idempotencyKey: null,
      deadLetter: null,
      ttlMs: 86_400_000,
    });
  }
  const q = insertRuns(SCHEMA, runs);
  await client.query(q.text, q.values);
}
await client.query(`vacuum analyze ${SCHEMA}.workflow_run`);
await client.query('checkpoint');

const TABLES = ['workflow_run', 'step_attempt'];
async function tupleStats() {
  const { rows } = await client.query(
    `select relname, n_tup_ins::int as ins, n_tup_upd::int as upd, n_tup_hot_upd::int as hot
     from pg_stat_user_tables where schemaname = $1 and relname = any($2)`,
    [SCHEMA, TABLES],
  );
  return Object.fromEntries(rows.map((r) => [r.relname, r]));
}

async function explain(q) {
  const lsn0 = (await client.query('select pg_current_wal_insert_lsn() as l'))
    .rows[0].l;
  const { rows } = await client.query(
    `explain (analyze, buffers, wal, format json) ${q.text}`,
    q.values,
  );
  const { rows: lsn } = await client.query(
    'select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1)::float8 as d',
    [lsn0],
  );
  const plan = rows[0]['QUERY PLAN'][0];
  const p = plan.Plan;
  return {
    ms: plan['Execution Time'] + (plan['Planning Time'] ?? 0),
    // From the WAL position (the plan's own counters leave out its CTEs'
    // writes); another session's writes meanwhile would count too.
    walBytes: lsn[0].d,
    walRecords: p['WAL Records'] ?? 0,
    walFpi: p['WAL FPI'] ?? 0,
    hit: p['Shared Hit Blocks'] ?? 0,
    dirtied: p['Shared Dirtied Blocks'] ?? 0,
  };
}

const sums = { claim: {}, commit: {} };
const add = (k, x) => {
  for (const [f, v] of Object.entries(x)) sums[k][f] = (sums[k][f] ?? 0) + v;
};
const owner = 'cost-worker';
let claimed = 0;
const s0 = await tupleStats();
// Skip the first batch (plans, caches), as a warm worker would.
let measured = 0;
for (let b = 0; claimed < RUNS; b++) {
  await client
    .query('select pg_stat_force_next_flush()')
    .catch(() => undefined);
  const before = b === 1 ? await tupleStats() : null;
  if (before) Object.assign(s0, before);
  const claim = await explain(claimRuns(SCHEMA, SCOPE, BATCH, owner));
  const { rows } = await client.query(
    `select id, fence::text, attempt, step_index, step_name, attempt_started_at::text as claimed_at
     from ${SCHEMA}.workflow_run where state = 'running' and lease_owner = $1`,
    [owner],
  );
  if (rows.length === 0) break;
  claimed += rows.length;
  const outcomes = rows.map((r) => ({
    run: {
      kind: 'step',
      id: r.id,
      fence: r.fence,
      attempt: r.attempt,
      stepIndex: r.step_index,
      stepName: r.step_name,
      claimedAt: r.claimed_at,
    },
    outcome: { kind: 'complete', output: null, calls: [] },
  }));
  const cq = commitOutcomes(SCHEMA, outcomes, owner);
  const commit = await explain(
    opts.variant === 'no-attempt-row'
      ? {
          ...cq,
          text: cq.text.replace(
            /where o.kind not in \('release', 'suspend'\)/,
            'where false',
          ),
        }
      : cq,
  );
  if (b === 0) continue;
  measured += rows.length;
  add('claim', claim);
  add('commit', commit);
}
await client.query('select pg_stat_force_next_flush()').catch(() => undefined);
await new Promise((r) => setTimeout(r, 700)); // stats flush
const s1 = await tupleStats();
const { rows: indexes } = await client.query(
  `select tablename, indexname, indexdef from pg_indexes where schemaname = $1 and tablename = any($2)`,
  [SCHEMA, TABLES],
);
await client.end();

const per = (v) => (v / measured).toFixed(2);
console.log(
  `runs measured: ${measured} (batches of ${BATCH}; the first batch is a warm-up)`,
);
console.log(
  '| statement | µs/run | WAL bytes/run | WAL records/run (top node) | FPI/run | buffers hit/run | dirtied/run |',
);
console.log('|---|---|---|---|---|---|---|');
for (const k of ['claim', 'commit']) {
  const s = sums[k];
  console.log(
    `| ${k} | ${((s.ms * 1000) / measured).toFixed(1)} | ${per(s.walBytes)} | ${per(s.walRecords)} | ${per(s.walFpi)} | ${per(s.hit)} | ${per(s.dirtied)} |`,
  );
}
console.log('\n| table | inserts/run | updates/run | of which HOT | indexes |');
console.log('|---|---|---|---|---|');
for (const t of TABLES) {
  const a = s0[t] ?? { ins: 0, upd: 0, hot: 0 };
  const b = s1[t] ?? a;
  const idx = indexes.filter((i) => i.tablename === t).map((i) => i.indexname);
  console.log(
    `| ${t} | ${per(b.ins - a.ins)} | ${per(b.upd - a.upd)} | ${per(b.hot - a.hot)} | ${idx.join(', ')} |`,
  );
}
