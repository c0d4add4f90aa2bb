// The workloads of PROTOCOL.md §5 (and the pgbench reference of §6), plus the
// activity, signal, sleep and child-workflow workloads of the library under
// test and the insert workloads (bench/README.md).
// N values are given at scale 1; `sizeOf(w, scale)` applies --scale.

export const WORKLOADS = [
  {
    id: 'enqueue-seq',
    kind: 'enqueue',
    base: 5000,
    callers: 1,
    unit: 'jobs/s',
    definition:
      'Empty queue, no worker. One caller awaits enqueue({i}) N times, one after another.',
    label: (n) => `Enqueue ${fmtInt(n)}, sequential, 1 caller (jobs/s)`,
  },
  {
    id: 'enqueue-conc',
    kind: 'enqueue',
    base: 5000,
    callers: 10,
    unit: 'jobs/s',
    definition:
      '10 concurrent async callers share one adapter (pool of 10); each does N/10 sequential enqueues.',
    label: (n) => `Enqueue ${fmtInt(n)}, 10 concurrent callers (jobs/s)`,
  },
  {
    id: 'enqueue-batch',
    kind: 'enqueue-batch',
    base: 10000,
    batch: 1000,
    unit: 'jobs/s',
    definition:
      'One caller does sequential enqueueBatch() calls of 1000 jobs (n/a without batch enqueue).',
    label: (n) => `Enqueue ${fmtInt(n)}, batches of 1000 (jobs/s)`,
  },
  {
    id: 'process-c10',
    kind: 'process',
    base: 20000,
    concurrency: 10,
    unit: 'jobs/s',
    definition:
      'Preload N jobs (enqueueBatch chunks of 1000), settle, fork a cold worker, timer from startWorker({concurrency:10}) to all handled + outstanding()=0.',
    label: (n) => `Process ${fmtInt(n)} pre-enqueued, concurrency 10 (jobs/s)`,
  },
  {
    id: 'process-c50',
    kind: 'process',
    base: 20000,
    concurrency: 50,
    unit: 'jobs/s',
    definition: 'As process-c10 with concurrency 50.',
    label: (n) => `Process ${fmtInt(n)} pre-enqueued, concurrency 50 (jobs/s)`,
  },
  {
    id: 'latency',
    kind: 'latency',
    base: 500,
    concurrency: 10,
    slotMs: 20,
    warmup: 20,
    unit: 'ms',
    definition:
      'Warm idle worker (concurrency 10); N jobs enqueued open-loop at 20 ms slots; latency = handler start - enqueue call start.',
    label: (n) => `Latency enqueue->handler start, ${fmtInt(n)} jobs`,
  },
  {
    id: 'chain',
    kind: 'chain',
    base: 2000,
    concurrency: 10,
    unit: 'chains/s',
    definition:
      'Preload N chain heads {c,s:1} via enqueueBatch, settle; worker concurrency 10; handler returns {next:{c,s:s+1}} for s<3; done when every chain ran step 3 and outstanding()=0.',
    label: (n) => `3-step chains x${fmtInt(n)}, concurrency 10 (chains/s)`,
  },
  // Activities: the systems under test only (the peers have none). A run with
  // `a: 1` in its input is a one-step workflow whose step awaits one no-op
  // activity call, `await ctx.call('noop')`, and then calls the handler. A
  // call suspends the step, runs the activity as its own task and replays the
  // step with the stored result, so the handler starts once per run, after
  // the call returned.
  {
    id: 'activity-runs',
    kind: 'process',
    base: 2000,
    concurrency: 10,
    input: { a: 1 },
    subjectOnly: true,
    unit: 'runs/s',
    definition:
      "As process-c10 with N one-step runs whose step awaits one no-op activity (await ctx.call('noop')) before the handler.",
    label: (n) =>
      `Process ${fmtInt(n)} pre-enqueued one-step runs, each awaiting one no-op ctx.call, concurrency 10 (runs/s)`,
  },
  {
    id: 'activity-latency',
    kind: 'latency',
    base: 500,
    concurrency: 10,
    slotMs: 20,
    warmup: 20,
    // Two phases through one warm worker, each the latency workload: runs
    // without a call, then runs whose step awaits one call (the other order
    // in even repetitions). The handler starts after the call returned.
    phases: [
      { id: 'baseline', input: {} },
      { id: 'call', input: { a: 1 } },
    ],
    subjectOnly: true,
    unit: 'ms',
    definition:
      "As latency, twice through one warm worker: N one-step runs without a call, and N whose step awaits one no-op ctx.call('noop') before the handler (order alternating by repetition); added = call - baseline, per percentile.",
    label: (n) => `Latency enqueue->handler start, ${fmtInt(n)} one-step runs`,
  },
  // A row of the job's own: every run's step (every job) inserts one row into
  // the harness's table `public.bench_row (i)` before the handler, the same
  // statement in every system. A job with `r` in its input does it; `tx` makes
  // it a transactional step (the library under test only), whose row commits
  // with the step's outcome. The harness creates and empties the table before
  // the preload and counts its rows after the run (one per job expected).
  {
    id: 'insert-c10',
    kind: 'process',
    base: 20000,
    concurrency: 10,
    input: { r: 1 },
    rows: true,
    unit: 'runs/s',
    definition:
      "As process-c10, but each job inserts one row of its own, 'insert into public.bench_row (i) values ($1)', before the handler: underway through the app's DataSource (autocommit, then the step returns), graphile-worker with helpers.withPgClient, pg-boss through boss.getDb() (its own pool); the insert and the job's completion are two commits.",
    label: (n) =>
      `Process ${fmtInt(n)} one-step runs, each inserting one row (own commit), concurrency 10 (runs/s)`,
  },
  {
    id: 'insert-tx-c10',
    kind: 'process',
    base: 20000,
    concurrency: 10,
    input: { r: 1, tx: 1 },
    rows: true,
    subjectOnly: true,
    // Its ratio is taken against the peers' figures of insert-c10.
    peerWorkload: 'insert-c10',
    unit: 'runs/s',
    definition:
      "As insert-c10, the insert made with ctx.manager.query(…) in a @Step({ transactional: true }): the row and the step's outcome commit together, in one transaction on the app's DataSource (the peers have no such step: the ratio is against their insert-c10).",
    label: () =>
      '  same, inserted with ctx.manager in a transactional step (row and outcome: one commit) (runs/s)',
  },
  // Signals and durable sleeps (SPEC §8.3, §8.8): the systems under test only
  // (the peers have neither). A run with `sig` in its input is a one-step
  // workflow whose step awaits ctx.waitFor(signal) and then calls the handler
  // with the payload's `t`, the sender's clock read just before the send; one
  // with `sleep` awaits ctx.sleep(sleep ms) and calls the handler with `t` =
  // when its first execution reached the sleep. Both suspend the step: the
  // run is `waiting` and holds no slot until the signal or the deadline.
  {
    id: 'signal-latency',
    kind: 'signal',
    base: 500,
    concurrency: 10,
    slotMs: 20,
    warmup: 20,
    subjectOnly: true,
    unit: 'ms',
    definition:
      "Warm idle worker (concurrency 10); N runs parked on ctx.waitFor (polled until all N waits are stored), settle, 1 s idle; then one signal per run, open-loop at 20 ms slots, each sent in its own transaction of the app's DataSource (dataSource.transaction(m => client.signal(runId, sig, { t }, { manager: m }))); latency = the step's code after waitFor returned - the clock read just before the transaction.",
    label: (n) =>
      `Signal sent in a transaction -> waiting step resumed, ${fmtInt(n)} runs, one at a time`,
  },
  {
    id: 'signal-throughput',
    kind: 'signal',
    base: 2000,
    concurrency: 10,
    callers: 10,
    warmup: 20,
    subjectOnly: true,
    unit: 'signals/s',
    definition:
      'As signal-latency, but the signals are sent as fast as 10 concurrent callers can, each sending N/10 one after another, each in its own transaction; timer from the first send to: the step resumed for all N and outstanding()=0.',
    label: (n) =>
      `Signals to ${fmtInt(n)} waiting runs from 10 concurrent callers, each in its own transaction, until every step resumed and every run finished (signals/s)`,
  },
  {
    id: 'sleep-precision',
    kind: 'sleep',
    base: 200,
    concurrency: 10,
    slotMs: 50,
    sleepMs: 200,
    warmup: 20,
    subjectOnly: true,
    unit: 'ms',
    definition:
      "Warm idle worker (concurrency 10); N runs enqueued open-loop at 50 ms slots, each step awaiting ctx.sleep(200 ms); delay = the step's code after the sleep returned (in its replay) - when its first execution reached the sleep.",
    label: (n) =>
      `ctx.sleep(200 ms) in a step, ${fmtInt(n)} runs (one every 50 ms): resumed after`,
  },
  // Child workflows (SPEC §8.4, §8.8): the systems under test only (the peers
  // have none). A run with `children` in its input is a one-step parent whose
  // step awaits Promise.all of that many ctx.child() of a one-step child
  // workflow (all enqueued by one statement, with the step's suspension; each
  // child's end settles its entry in the parent and the last one wakes the
  // parent), and calls the handler in its replay, once every child returned.
  {
    id: 'children-fanout',
    kind: 'fanout',
    base: 1000,
    concurrency: 10,
    warmupChildren: 100,
    subjectOnly: true,
    unit: 'children/s',
    definition:
      'Warm idle worker (concurrency 10; warm-up: one parent of 100 children), settle, 1 s idle; then one parent run enqueued whose step awaits Promise.all of N ctx.child() of a one-step child workflow (each child calls the handler); timer from the parent enqueue call start to: every child ran, the parent resumed and outstanding()=0 (the parent completed). N = children.',
    label: (n) =>
      `Fan-out and fan-in: one parent awaiting ${fmtInt(n)} one-step children, enqueue of the parent -> parent completed (children/s)`,
  },
  {
    id: 'children-latency',
    kind: 'child-latency',
    base: 500,
    concurrency: 10,
    slotMs: 20,
    warmup: 20,
    subjectOnly: true,
    unit: 'ms',
    definition:
      "Warm idle worker (concurrency 10; warm-up: 20 parents), settle, 1 s idle; then N parent runs, one at a time (each enqueued at its 20 ms slot, or once the previous one resumed if later), each step awaiting ONE ctx.child() of a one-step child; latency = when ctx.child returned in the parent's replay - the clock read in the child's step just before it returned (both in the worker process).",
    label: (n) =>
      `Child run's step returned -> parent's step resumed (ctx.child returned), ${fmtInt(n)} parents of one child each, one at a time`,
  },
];

export const PGBENCH_WORKLOADS = [
  {
    id: 'pgbench-tpcb',
    kind: 'pgbench',
    unit: 'tps',
    label: 'pgbench-tpcb: pgbench built-in tpcb-like (-M simple)',
  },
  {
    id: 'pgbench-queue-1tx',
    kind: 'pgbench',
    unit: 'tps',
    script: 'queue-1tx.sql',
    label:
      'pgbench-queue-1tx: insert + SKIP LOCKED claim + complete, 1 transaction (-M prepared)',
  },
  {
    id: 'pgbench-queue-3tx',
    kind: 'pgbench',
    unit: 'tps',
    script: 'queue-3tx.sql',
    label:
      'pgbench-queue-3tx: insert + SKIP LOCKED claim + complete, 3 transactions (-M prepared)',
  },
];

export const ALL_WORKLOAD_IDS = [...WORKLOADS, ...PGBENCH_WORKLOADS].map(
  (w) => w.id,
);

/** `--only` names that stand for several workloads. */
export const WORKLOAD_GROUPS = {
  pgbench: PGBENCH_WORKLOADS.map((w) => w.id),
  activity: ['activity-runs', 'activity-latency'],
  insert: ['insert-c10', 'insert-tx-c10'],
  signal: ['signal-latency', 'signal-throughput', 'sleep-precision'],
  children: ['children-fanout', 'children-latency'],
};

export function workloadById(id) {
  return [...WORKLOADS, ...PGBENCH_WORKLOADS].find((w) => w.id === id);
}

/** N at this scale; enqueue-conc stays a multiple of its 10 callers. */
export function sizeOf(w, scale) {
  if (w.kind === 'pgbench') return undefined;
  const raw = Math.max(1, Math.round(w.base * scale));
  if (w.callers && w.callers > 1) {
    return Math.max(w.callers, Math.round(raw / w.callers) * w.callers);
  }
  return raw;
}

/**
 * The cap of a worker run: at least N x 20 ms + 30 s for latency (rule 8),
 * and N x its slot + 30 s for every open-loop workload.
 * A latency workload with phases has this cap per phase.
 */
export function capFor(w, n, cap) {
  if (w.slotMs) return Math.max(cap, (n * w.slotMs) / 1000 + 30);
  return cap;
}

export function fmtInt(n) {
  return Math.round(n).toLocaleString('en-US');
}
