// Summaries (PROTOCOL.md §7) and the table of baseline-2026-11-22.md, with the
// library under test added and its ratio to the best peer.
import { median, spreadPct } from './common.mjs';
import { PGBENCH_WORKLOADS, WORKLOADS, fmtInt, sizeOf } from './workloads.mjs';

// ------------------------------------------------------------------ summaries

/** Worker workloads whose value is jobs (runs, chains) per second. */
const THROUGHPUT_WORKLOADS = new Set([
  'process-c10',
  'process-c50',
  'chain',
  'activity-runs',
  'insert-c10',
  'insert-tx-c10',
  'children-fanout',
]);

/** metric -> value of one sample. */
function metricsOf(sample) {
  const m = {};
  const w = sample.workload;
  if (w === 'latency') {
    m['latency-p50'] = sample.latency?.p50 ?? NaN;
    m['latency-p95'] = sample.latency?.p95 ?? NaN;
    m['latency-p99'] = sample.latency?.p99 ?? NaN;
  } else if (w === 'activity-latency') {
    for (const p of ['p50', 'p95', 'p99']) {
      m[`activity-latency-${p}`] = sample.latency?.[p] ?? NaN;
      m[`activity-baseline-${p}`] = sample.baseline?.latency?.[p] ?? NaN;
      m[`activity-added-${p}`] = sample.addedMs?.[p] ?? NaN;
    }
  } else if (
    w === 'signal-latency' ||
    w === 'sleep-precision' ||
    w === 'children-latency'
  ) {
    for (const p of ['p50', 'p95', 'p99', 'max'])
      m[`${w}-${p}`] = sample.latency?.[p] ?? NaN;
    if (w === 'sleep-precision') {
      for (const p of ['p50', 'p99'])
        m[`sleep-overshoot-${p}`] = sample.overshoot?.[p] ?? NaN;
    }
  } else {
    m[w] = sample.value;
  }
  if (w === 'signal-throughput') {
    for (const p of ['p50', 'p99'])
      m[`signal-throughput-${p}`] = sample.latency?.[p] ?? NaN;
  }
  if (w === 'signal-latency') {
    for (const p of ['p50', 'p99']) {
      m[`signal-tx-${p}`] = sample.transaction?.[p] ?? NaN;
      m[`signal-after-commit-${p}`] = sample.afterCommit?.[p] ?? NaN;
    }
  }
  if (w === 'children-latency') {
    for (const p of ['p50', 'p99'])
      m[`children-round-${p}`] = sample.round?.[p] ?? NaN;
  }
  if (w === 'children-fanout') {
    for (const k of [
      'parentStartMs',
      'firstChildMs',
      'childrenDoneMs',
      'resumedMs',
      'elapsedMs',
    ])
      m[`children-fanout-${k}`] = sample[k] ?? NaN;
  }
  if (w === 'chain') m['chain-steps'] = sample.stepsPerSec ?? NaN;
  if (sample.machineCpuPct != null)
    m[`cpu-machine:${w}`] = sample.machineCpuPct;
  if (sample.stealPct != null) m[`cpu-steal:${w}`] = sample.stealPct;
  const client = sample.producerCpuPct ?? sample.workerCpuPct;
  if (client != null) m[`cpu-client:${w}`] = client;
  // µs of the worker process's CPU (Node) per job, run or chain processed.
  if (sample.workerCpuPct != null && THROUGHPUT_WORKLOADS.has(w))
    m[`cpu-us-per-job:${w}`] = (sample.workerCpuPct * 1e4) / sample.value;
  return m;
}

function notesOf(samples, workload) {
  const notes = [];
  const capped = samples.filter((s) => s.capped);
  if (capped.length)
    notes.push(`${capped.length} of ${samples.length} reps capped`);
  const dups = samples.filter((s) => s.duplicates > 0);
  if (dups.length)
    notes.push(
      `duplicates: ${dups.map((s) => `rep ${s.rep}: ${s.duplicates}`).join(', ')}`,
    );
  const errors = samples.filter((s) => s.error);
  if (errors.length) notes.push(`${errors.length} failed: ${errors[0].error}`);
  const na = samples.filter((s) => s.na);
  if (na.length) notes.push(`n/a (${na[0].note ?? 'unsupported'})`);
  void workload;
  return notes;
}

export function summarize(records) {
  const samples = records.filter((r) => r.type === 'sample');
  const groups = new Map();
  for (const s of samples) {
    const key = `${s.system}\u0000${s.workload}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(s);
  }
  const out = [];
  for (const group of groups.values()) {
    const { system, workload } = group[0];
    const perMetric = new Map();
    for (const s of group) {
      for (const [metric, v] of Object.entries(metricsOf(s))) {
        if (!perMetric.has(metric)) perMetric.set(metric, []);
        perMetric.get(metric).push(v);
      }
    }
    const notes = notesOf(group, workload);
    for (const [metric, values] of perMetric) {
      const finite = values.filter((v) => Number.isFinite(v));
      out.push({
        type: 'summary',
        system,
        metric,
        n: finite.length,
        median: median(values),
        min: finite.length ? Math.min(...finite) : NaN,
        max: finite.length ? Math.max(...finite) : NaN,
        spreadPct: spreadPct(values),
        values,
        notes: metric.startsWith('cpu-') ? [] : notes,
      });
    }
  }
  return out;
}

// ------------------------------------------------------------------ formatting

export function fmtValue(x) {
  if (x === undefined || x === null || Number.isNaN(x)) return 'n/a';
  if (!Number.isFinite(x)) return '∞';
  const a = Math.abs(x);
  if (a >= 100) return fmtInt(x);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

function fmtSpread(p) {
  if (!Number.isFinite(p)) return '';
  if (p >= 10) return `±${Math.round(p)}%`;
  return `±${p.toFixed(1)}%`;
}

function fmtPct(x) {
  return x === undefined || !Number.isFinite(x) ? '–' : `${Math.round(x)}%`;
}

function fmtRatio(r) {
  if (r === undefined || Number.isNaN(r)) return 'n/a';
  if (!Number.isFinite(r)) return '∞';
  return r >= 10 ? `${r.toFixed(1)}×` : `${r.toFixed(2)}×`;
}

// ------------------------------------------------------------------ table

/** The rows of the main table. */
function tableRows(meta) {
  const scale = meta.options.scale;
  const n = (id) =>
    sizeOf(
      WORKLOADS.find((w) => w.id === id),
      scale,
    );
  const label = (id) => WORKLOADS.find((w) => w.id === id).label(n(id));
  return [
    {
      workload: 'enqueue-seq',
      metric: 'enqueue-seq',
      label: label('enqueue-seq'),
      higher: true,
    },
    {
      workload: 'enqueue-conc',
      metric: 'enqueue-conc',
      label: label('enqueue-conc'),
      higher: true,
    },
    {
      workload: 'enqueue-batch',
      metric: 'enqueue-batch',
      label: label('enqueue-batch'),
      higher: true,
    },
    {
      workload: 'process-c10',
      metric: 'process-c10',
      label: label('process-c10'),
      higher: true,
    },
    {
      workload: 'process-c50',
      metric: 'process-c50',
      label: label('process-c50'),
      higher: true,
    },
    {
      workload: 'latency',
      metric: 'latency-p50',
      label: `${label('latency')}, p50 (ms)`,
      higher: false,
    },
    {
      workload: 'latency',
      metric: 'latency-p95',
      label: 'Latency enqueue->handler start, p95 (ms)',
      higher: false,
    },
    {
      workload: 'latency',
      metric: 'latency-p99',
      label: 'Latency enqueue->handler start, p99 (ms)',
      higher: false,
    },
    { workload: 'chain', metric: 'chain', label: label('chain'), higher: true },
    {
      workload: 'chain',
      metric: 'chain-steps',
      label: '  same, step jobs/s',
      higher: true,
    },
    {
      workload: 'insert-c10',
      metric: 'insert-c10',
      label: label('insert-c10'),
      higher: true,
    },
    // The library under test only; its ratio against the peers' insert-c10.
    {
      workload: 'insert-tx-c10',
      metric: 'insert-tx-c10',
      peerMetric: 'insert-c10',
      label: label('insert-tx-c10'),
      higher: true,
    },
  ];
}

/** The rows of the activity table (the systems under test only). */
function activityRows(meta) {
  const w = (id) => WORKLOADS.find((x) => x.id === id);
  const n = (id) => sizeOf(w(id), meta.options.scale);
  const lat = `Latency enqueue->handler start, ${fmtInt(n('activity-latency'))} one-step runs`;
  return [
    {
      workload: 'activity-runs',
      metric: 'activity-runs',
      label: w('activity-runs').label(n('activity-runs')),
    },
    ...['p50', 'p99'].flatMap((p) => [
      {
        workload: 'activity-latency',
        metric: `activity-baseline-${p}`,
        label: `${lat} without a call, ${p} (ms)`,
      },
      {
        workload: 'activity-latency',
        metric: `activity-latency-${p}`,
        label: `  same, the step awaits one no-op ctx.call first, ${p} (ms)`,
      },
      {
        workload: 'activity-latency',
        metric: `activity-added-${p}`,
        label: `  added by one call, ${p} (ms)`,
      },
    ]),
  ];
}

/** The rows of the signal table (the systems under test only). */
function signalRows(meta) {
  const w = (id) => WORKLOADS.find((x) => x.id === id);
  const n = (id) => sizeOf(w(id), meta.options.scale);
  const sleepMs = w('sleep-precision').sleepMs;
  return [
    ...['p50', 'p95', 'p99', 'max'].map((p, k) => ({
      workload: 'signal-latency',
      metric: `signal-latency-${p}`,
      label:
        k === 0
          ? `${w('signal-latency').label(n('signal-latency'))} (20 ms slots), ${p} (ms)`
          : `  same, ${p} (ms)`,
    })),
    ...['p50', 'p99'].flatMap((p) => [
      {
        workload: 'signal-latency',
        metric: `signal-tx-${p}`,
        label: `  of which the sender's transaction (begin → commit returned), ${p} (ms)`,
      },
      {
        workload: 'signal-latency',
        metric: `signal-after-commit-${p}`,
        label: `  of which commit returned → step resumed, ${p} (ms)`,
      },
    ]),
    {
      workload: 'signal-throughput',
      metric: 'signal-throughput',
      label: w('signal-throughput').label(n('signal-throughput')),
    },
    ...['p50', 'p99'].map((p) => ({
      workload: 'signal-throughput',
      metric: `signal-throughput-${p}`,
      label: `  same, signal sent -> step resumed under that load, ${p} (ms)`,
    })),
    ...['p50', 'p95', 'p99', 'max'].map((p, k) => ({
      workload: 'sleep-precision',
      metric: `sleep-precision-${p}`,
      label:
        k === 0
          ? `${w('sleep-precision').label(n('sleep-precision'))}, ${p} (ms)`
          : `  same, ${p} (ms)`,
    })),
    ...['p50', 'p99'].map((p) => ({
      workload: 'sleep-precision',
      metric: `sleep-overshoot-${p}`,
      label: `  same, past the ${sleepMs} ms asked for, ${p} (ms)`,
    })),
  ];
}

/** The rows of the child-workflow table (the systems under test only). */
function childRows(meta) {
  const w = (id) => WORKLOADS.find((x) => x.id === id);
  const n = (id) => sizeOf(w(id), meta.options.scale);
  const milestone = (key, text) => ({
    workload: 'children-fanout',
    metric: `children-fanout-${key}`,
    label: `  same, ${text}, ms after the parent's enqueue call`,
  });
  return [
    {
      workload: 'children-fanout',
      metric: 'children-fanout',
      label: w('children-fanout').label(n('children-fanout')),
    },
    milestone('parentStartMs', "the parent's step started"),
    milestone('firstChildMs', 'the first child started'),
    milestone('childrenDoneMs', 'every child had run'),
    milestone('resumedMs', "the parent's step resumed with every output"),
    milestone('elapsedMs', 'the parent completed (outstanding() = 0)'),
    ...['p50', 'p95', 'p99', 'max'].map((p, k) => ({
      workload: 'children-latency',
      metric: `children-latency-${p}`,
      label:
        k === 0
          ? `${w('children-latency').label(n('children-latency'))}, ${p} (ms)`
          : `  same, ${p} (ms)`,
    })),
    ...['p50', 'p99'].map((p) => ({
      workload: 'children-latency',
      metric: `children-round-${p}`,
      label: `  the whole round, the parent's enqueue call -> its step resumed with the child's output, ${p} (ms)`,
    })),
  ];
}

/** SPEC §5 targets, for each system under test. */
const TARGETS = [
  {
    metric: 'process-c10',
    text: 'process, concurrency 10: ≥ 1.5× the best peer',
    ratio: 1.5,
  },
  {
    metric: 'process-c50',
    text: 'process, concurrency 50: ≥ 1.5× the best peer',
    ratio: 1.5,
  },
  {
    metric: 'chain',
    text: '3-step workflows: ≥ 1.5× the best peer (step transitions atomic)',
    ratio: 1.5,
  },
  {
    metric: 'enqueue-seq',
    text: 'enqueue one by one: ≥ the best peer',
    ratio: 1,
  },
  {
    metric: 'enqueue-conc',
    text: 'enqueue from 10 callers: ≥ the best peer',
    ratio: 1,
  },
  {
    metric: 'enqueue-batch',
    text: 'enqueue in batches of 1,000: ≥ the best peer',
    ratio: 1,
  },
  { metric: 'latency-p50', text: 'enqueue → step start p50: ≤ 3 ms', maxMs: 3 },
  { metric: 'latency-p99', text: 'enqueue → step start p99: ≤ 8 ms', maxMs: 8 },
  {
    metric: 'signal-latency-p50',
    text: 'signal sent in a transaction → waiting step resumed p50 (§8.8): ≤ 5 ms',
    maxMs: 5,
  },
  {
    metric: 'signal-latency-p99',
    text: 'signal sent in a transaction → waiting step resumed p99 (§8.8): ≤ 20 ms',
    maxMs: 20,
  },
  {
    metric: 'children-fanout',
    text: '1,000 children fan-out and fan-in, end to end (§8.8): ≥ 500 children/s',
    min: 500,
    unit: 'children/s',
  },
  {
    metric: 'children-latency-p50',
    text: "child run's completion → parent resumed p50 (§8.8): ≤ 5 ms",
    maxMs: 5,
  },
  {
    metric: 'children-latency-p99',
    text: "child run's completion → parent resumed p99 (§8.8): ≤ 20 ms",
    maxMs: 20,
  },
];

export function render(records) {
  const meta = records.find((r) => r.type === 'meta');
  if (!meta) throw new Error('no meta record in the results');
  const systemRecs = records.filter((r) => r.type === 'system');
  const samples = records.filter((r) => r.type === 'sample');
  let summaries = records.filter((r) => r.type === 'summary');
  if (summaries.length === 0) summaries = summarize(records);
  const sum = (system, metric) =>
    summaries.find((s) => s.system === system && s.metric === metric);
  const systems = meta.systems
    .map((s) => s.name)
    .filter((name) => samples.some((x) => x.system === name));
  const subjectNames = meta.systems
    .filter((s) => s.subject)
    .map((s) => s.name)
    .filter((n) => systems.includes(n));
  const peerNames = systems.filter((n) => !subjectNames.includes(n));
  const lines = [];
  const p = (s = '') => lines.push(s);
  /** Median with ±spread, `*` when a repetition was capped. */
  const cell = (name, metric) => {
    const s = sum(name, metric);
    if (!s) return '–';
    if (s.n === 0)
      return s.notes.some((x) => x.startsWith('n/a')) ? 'n/a' : 'error';
    const cappedMark = s.notes.some((x) => x.includes('capped')) ? '*' : '';
    const spread = s.n >= 2 ? fmtSpread(s.spreadPct) : '';
    return `${fmtValue(s.median)}${cappedMark}${spread ? ' ' + spread : ''}`;
  };

  const o = meta.options;
  const pgs = meta.postgres.settings ?? {};
  p(`# Queue benchmark, ${meta.startedAt.slice(0, 10)} (${meta.startedAt})`);
  p();
  p(
    `Host: ${meta.host.cpus} CPU (${meta.host.cpuModel}), ${meta.host.memGiB} GiB, Node ${meta.node}, ` +
      `Postgres ${pgs.server_version ?? '?'} via ${meta.postgres.target.host}:${meta.postgres.target.port} (user ${meta.postgres.target.user})`,
  );
  p(
    `Postgres: ${[
      'shared_buffers',
      'synchronous_commit',
      'fsync',
      'autovacuum',
      'max_connections',
    ]
      .map((k) => `${k}=${pgs[k]}`)
      .join(' ')}`,
  );
  p(
    `Versions: ${Object.entries(meta.versions)
      .map(([k, v]) => `${k}@${v}`)
      .join(', ')}; reps=${o.reps}, cap=${o.cap}s, scale=${o.scale}` +
      (meta.git
        ? `; repo ${meta.git.commit?.slice(0, 10)}${meta.git.dirty ? ' + uncommitted changes' : ''}`
        : ''),
  );
  if (o.scale !== 1) {
    p();
    p(
      `Note: scale=${o.scale} — N differs from the protocol's; do not compare these figures with the baseline.`,
    );
  }
  p();

  const rows = tableRows(meta).filter((r) =>
    samples.some((s) => s.workload === r.workload),
  );
  if (rows.length) {
    const head = [
      'Workload',
      ...systems,
      ...subjectNames.map((n) => `${n} ÷ best peer`),
    ];
    p(`| ${head.join(' | ')} |`);
    p(`|${['---', ...head.slice(1).map(() => '---:')].join('|')}|`);
    for (const row of rows) {
      const cells = systems.map((name) => cell(name, row.metric));
      const ratios = subjectNames.map((name) => {
        const u = sum(name, row.metric)?.median;
        const peers = peerNames
          .map((n) => ({ n, v: sum(n, row.peerMetric ?? row.metric)?.median }))
          .filter((x) => Number.isFinite(x.v));
        if (!Number.isFinite(u) || peers.length === 0) return 'n/a';
        const best = peers.reduce((a, b) =>
          row.higher ? (b.v > a.v ? b : a) : b.v < a.v ? b : a,
        );
        const r = row.higher
          ? best.v === 0
            ? Infinity
            : u / best.v
          : u === 0
            ? Infinity
            : best.v / u;
        return `${fmtRatio(r)}${row.higher ? '' : '†'} (${best.n})`;
      });
      p(`| ${row.label} | ${[...cells, ...ratios].join(' | ')} |`);
    }
    p();
    p(
      'Cells: median of the repetitions, ±spread = (max - min) / median (shown from 2 repetitions); * = at least one repetition capped (see below).',
    );
    if (subjectNames.length) {
      p(
        `Ratio column: ${subjectNames.join(', ')} against the best peer of this run (named in brackets); ` +
          '> 1 means the library under test is better. Throughput rows: subject ÷ best peer. ' +
          'Latency rows (†, lower is better): best peer ÷ subject, so > 1 still means faster.',
      );
    }
    if (rows.some((r) => r.workload.startsWith('insert'))) {
      p(
        "Insert rows: each job inserts one row of its own (the same statement in every system) before the handler; the peers and underway's plain step commit it apart from the job's completion, " +
          "underway's transactional step commits it with the step's outcome (the peers have no such step: its ratio is against their figures of the row above).",
      );
    }
    p();
  }

  // Activities: the systems under test only, reported as measured.
  const actRows = activityRows(meta).filter((r) =>
    samples.some((s) => s.workload === r.workload),
  );
  const actSystems = subjectNames.filter((name) =>
    samples.some((s) => s.system === name && s.workload.startsWith('activity')),
  );
  if (actRows.length && actSystems.length) {
    p(
      `| Activity calls (no peer has activities) | ${actSystems.join(' | ')} |`,
    );
    p(`|---|${actSystems.map(() => '---:').join('|')}|`);
    for (const row of actRows) {
      p(
        `| ${row.label} | ${actSystems.map((name) => cell(name, row.metric)).join(' | ')} |`,
      );
    }
    p();
    p(
      'Latency rows: both kinds of runs go through one warm worker in one measurement, each as the latency workload does ' +
        '(open-loop 20 ms slots, handler start - enqueue call start); with a call, the handler starts in the replay, after the call returned. ' +
        '"added" is the difference of the two percentiles within each repetition (median over repetitions).',
    );
    p();
  }

  // Signals and durable sleeps: the systems under test only, as measured.
  const sigRows = signalRows(meta).filter((r) =>
    samples.some((s) => s.workload === r.workload),
  );
  const sigSystems = subjectNames.filter((name) =>
    samples.some(
      (s) =>
        s.system === name &&
        sigRows.some((r) => r.workload === s.workload) &&
        !s.na,
    ),
  );
  if (sigRows.length && sigSystems.length) {
    p(
      `| Signals and durable sleeps (neither peer has them) | ${sigSystems.join(' | ')} |`,
    );
    p(`|---|${sigSystems.map(() => '---:').join('|')}|`);
    for (const row of sigRows) {
      p(
        `| ${row.label} | ${sigSystems.map((name) => cell(name, row.metric)).join(' | ')} |`,
      );
    }
    p();
    p(
      "Signal rows: runs parked on ctx.waitFor (run waiting, no slot held), each signal sent in its own transaction of the app's DataSource; " +
        'latency = the step code after waitFor returned - the clock read just before the transaction began (one warm, idle worker, concurrency 10). ' +
        'Sleep rows: the step code after ctx.sleep returned (in the replay) - when the first execution reached the sleep.',
    );
    p();
  }

  // Child workflows: the systems under test only, as measured.
  const kidRows = childRows(meta).filter((r) =>
    samples.some((s) => s.workload === r.workload),
  );
  const kidSystems = subjectNames.filter((name) =>
    samples.some(
      (s) =>
        s.system === name &&
        kidRows.some((r) => r.workload === s.workload) &&
        !s.na,
    ),
  );
  if (kidRows.length && kidSystems.length) {
    p(
      `| Child workflows (neither peer has them) | ${kidSystems.join(' | ')} |`,
    );
    p(`|---|${kidSystems.map(() => '---:').join('|')}|`);
    for (const row of kidRows) {
      p(
        `| ${row.label} | ${kidSystems.map((name) => cell(name, row.metric)).join(' | ')} |`,
      );
    }
    p();
    p(
      'Child rows: pg-boss and graphile-worker have no child workflows (no job that waits for other jobs and resumes with their results), so there is no ratio. ' +
        'A parent is a one-step workflow awaiting Promise.all of ctx.child() of a one-step child; one warm, idle worker, concurrency 10. ' +
        "Fan-out: one parent per repetition, children/s = N / (parent completed - the parent's enqueue call start). " +
        "Latency: when ctx.child returned in the parent's replay - the clock read in the child's step just before it returned (same process).",
    );
    p();
  }

  // SPEC §5 targets
  for (const name of subjectNames) {
    const lines2 = [];
    for (const t of TARGETS) {
      const u = sum(name, t.metric)?.median;
      if (u === undefined) continue;
      if (t.min !== undefined) {
        const ok = Number.isFinite(u) && u >= t.min;
        lines2.push(
          `- ${t.text}: ${fmtValue(u)} ${t.unit} — ${ok ? 'met' : 'NOT met'}`,
        );
      } else if (t.maxMs !== undefined) {
        const ok = Number.isFinite(u) && u <= t.maxMs;
        lines2.push(
          `- ${t.text}: ${fmtValue(u)} ms — ${ok ? 'met' : 'NOT met'}`,
        );
      } else {
        const peers = peerNames
          .map((n) => sum(n, t.metric)?.median)
          .filter((v) => Number.isFinite(v));
        if (!peers.length || !Number.isFinite(u)) {
          lines2.push(`- ${t.text}: n/a (no peer figure in this run)`);
          continue;
        }
        const best = Math.max(...peers);
        const r = best === 0 ? Infinity : u / best;
        lines2.push(
          `- ${t.text}: ${fmtRatio(r)} — ${r >= t.ratio ? 'met' : 'NOT met'}`,
        );
      }
    }
    if (lines2.length) {
      p(
        `SPEC targets (§5; signals and children §8.8), ${name}${o.scale !== 1 ? ` (at scale ${o.scale}: indicative only)` : ''}:`,
      );
      lines2.forEach((l) => p(l));
      p();
    }
  }

  // Capped runs
  const cappedLines = [];
  for (const name of systems) {
    for (const w of WORKLOADS) {
      const group = samples.filter(
        (s) => s.system === name && s.workload === w.id,
      );
      const capped = group.filter((s) => s.capped);
      if (!capped.length) continue;
      const detail = capped
        .map((s) => {
          const secs = Math.round((s.elapsedMs ?? 0) / 1000);
          if (w.kind === 'chain')
            return `${s.chainsCompleted}/${s.n} chains in ${secs}s`;
          if (
            w.kind === 'latency' ||
            w.kind === 'signal' ||
            w.kind === 'sleep' ||
            w.kind === 'child-latency'
          )
            return `received ${s.received}/${s.n}`;
          if (w.kind === 'fanout')
            return `${s.completed}/${s.n} children in ${secs}s`;
          return `${s.completed}/${s.n} in ${secs}s`;
        })
        .join('; ');
      cappedLines.push(
        `- ${name} / ${w.id}: ${capped.length} of ${group.length} reps capped (${detail})`,
      );
    }
  }
  if (cappedLines.length) {
    p(
      'Capped runs (did not finish within --cap; value = completed / elapsed):',
    );
    cappedLines.forEach((l) => p(l));
  } else {
    p('Capped runs: none.');
  }
  p();

  // Duplicates, failures, checks
  const dupLines = samples
    .filter((s) => s.duplicates > 0)
    .map(
      (s) =>
        `- ${s.system} / ${s.workload} rep ${s.rep}: ${s.duplicates} duplicate handler run(s) (${s.handlerStarts} runs)`,
    );
  const workerRuns = samples.filter((s) => s.duplicates !== undefined);
  if (dupLines.length) {
    p('Duplicates (a handler ran more than once for the same job/step):');
    dupLines.forEach((l) => p(l));
  } else if (workerRuns.length) {
    p(
      `Duplicates: none (${workerRuns.length} worker runs; every handler ran at most once per job/step).`,
    );
  }
  const rowRuns = samples.filter((s) => s.rows);
  if (rowRuns.length) {
    const bad = rowRuns.filter(
      (s) => s.rows.total !== s.rows.distinct || s.rows.distinct !== s.n,
    );
    p(
      bad.length === 0
        ? `Insert rows: one row per job in every run (${rowRuns.length} runs).`
        : `Insert rows (rows / distinct jobs / N): ${bad.map((s) => `${s.system} / ${s.workload} rep ${s.rep}: ${s.rows.total} / ${s.rows.distinct} / ${s.n}${s.capped ? ' (capped)' : ''}`).join('; ')}; every other run: one row per job.`,
    );
  }
  const problems = samples
    .filter((s) => s.error || s.checkFailed || s.workerKilled || s.workerErrors)
    .map(
      (s) =>
        `- ${s.system} / ${s.workload} rep ${s.rep}: ` +
        [
          s.error && `error: ${s.error}`,
          s.checkFailed && `check failed: ${s.checkFailed}`,
          s.workerKilled && 'worker did not stop within 25 s (SIGKILL)',
          s.workerErrors && `worker errors: ${s.workerErrors.join('; ')}`,
        ]
          .filter(Boolean)
          .join('; '),
    );
  if (problems.length) {
    p();
    p('Problems:');
    problems.forEach((l) => p(l));
  }
  p();

  // CPU
  const cpuWorkloads = WORKLOADS.filter((w) =>
    samples.some((s) => s.workload === w.id),
  );
  if (cpuWorkloads.length) {
    p(
      'CPU during the timed window (medians): machine busy % of all cores / client process (producer or worker) % of one core / hypervisor steal % of all cores',
    );
    p();
    p(`| Workload | ${systems.join(' | ')} |`);
    p(`|---|${systems.map(() => '---:').join('|')}|`);
    for (const w of cpuWorkloads) {
      const cells = systems.map((name) => {
        const m = sum(name, `cpu-machine:${w.id}`)?.median;
        const c = sum(name, `cpu-client:${w.id}`)?.median;
        const st = sum(name, `cpu-steal:${w.id}`)?.median;
        return m === undefined && c === undefined
          ? '–'
          : `${fmtPct(m)} / ${fmtPct(c)} / ${fmtPct(st)}`;
      });
      p(`| ${w.id} | ${cells.join(' | ')} |`);
    }
    p();
    const perJob = cpuWorkloads.filter((w) =>
      systems.some((name) => sum(name, `cpu-us-per-job:${w.id}`)),
    );
    if (perJob.length) {
      p(
        'Worker CPU per job (medians): µs of the worker process (Node) per job, run or chain processed',
      );
      p();
      p(`| Workload | ${systems.join(' | ')} |`);
      p(`|---|${systems.map(() => '---:').join('|')}|`);
      for (const w of perJob) {
        const cells = systems.map((name) => {
          const us = sum(name, `cpu-us-per-job:${w.id}`)?.median;
          return us === undefined || Number.isNaN(us) ? '–' : us.toFixed(1);
        });
        p(`| ${w.id} | ${cells.join(' | ')} |`);
      }
      p();
    }
  }

  // Latency detail and start-up
  const actLat = samples.filter(
    (s) => s.workload === 'activity-latency' && s.baseline,
  );
  if (actLat.length) {
    p(
      'Activity latency per rep (p50 / p99 ms without a call → with one call; received; phase order):',
    );
    for (const name of systems) {
      const g = actLat.filter((s) => s.system === name);
      if (!g.length) continue;
      p(
        `- ${name}: ` +
          g
            .map(
              (s) =>
                `${fmtValue(s.baseline.latency.p50)} / ${fmtValue(s.baseline.latency.p99)} → ` +
                `${fmtValue(s.latency.p50)} / ${fmtValue(s.latency.p99)}; ` +
                `${s.baseline.received}+${s.received}/${s.n}+${s.n}; ${(s.phaseOrder ?? []).join(' then ')}`,
            )
            .join(' | '),
      );
    }
    p();
  }
  const lat = samples.filter((s) => s.workload === 'latency' && s.latency);
  if (lat.length) {
    p(
      'Latency detail per rep (p50 / p95 / p99 / max ms; received; max send lag ms):',
    );
    for (const name of systems) {
      const g = lat.filter((s) => s.system === name);
      if (!g.length) continue;
      p(
        `- ${name}: ` +
          g
            .map(
              (s) =>
                `${fmtValue(s.latency.p50)} / ${fmtValue(s.latency.p95)} / ${fmtValue(s.latency.p99)} / ${fmtValue(s.latency.max)}; ${s.received}/${s.n}; ${fmtValue(s.maxSendLagMs)}`,
            )
            .join(' | '),
      );
    }
    p();
  }
  const sigLat = samples.filter(
    (s) =>
      ['signal-latency', 'signal-throughput', 'sleep-precision'].includes(
        s.workload,
      ) && s.latency,
  );
  if (sigLat.length) {
    p(
      'Signal and sleep detail per rep (p50 / p95 / p99 / max ms; received; signals: of which the transaction and commit → resumed, p50 / p99 / max; signal-throughput: signals/s):',
    );
    for (const name of systems) {
      for (const id of [
        'signal-latency',
        'signal-throughput',
        'sleep-precision',
      ]) {
        const g = sigLat.filter((s) => s.system === name && s.workload === id);
        if (!g.length) continue;
        p(
          `- ${name} / ${id}: ` +
            g
              .map(
                (s) =>
                  `${fmtValue(s.latency.p50)} / ${fmtValue(s.latency.p95)} / ${fmtValue(s.latency.p99)} / ${fmtValue(s.latency.max)}; ${s.received}/${s.n}` +
                  (s.transaction
                    ? `; transaction ${fmtValue(s.transaction.p50)} / ${fmtValue(s.transaction.p99)} / ${fmtValue(s.transaction.max)}, after commit ${fmtValue(s.afterCommit.p50)} / ${fmtValue(s.afterCommit.p99)} / ${fmtValue(s.afterCommit.max)}`
                    : '') +
                  (id === 'signal-throughput'
                    ? `; ${fmtValue(s.value)}/s`
                    : ''),
              )
              .join(' | '),
        );
      }
    }
    p();
  }
  const kids = samples.filter(
    (s) =>
      (s.workload === 'children-fanout' && Number.isFinite(s.value)) ||
      (s.workload === 'children-latency' && s.latency),
  );
  if (kids.length) {
    p(
      "Child workflow detail per rep (fan-out: children/s; ms after the parent's enqueue call: parent started, first child, every child ran, parent resumed, parent completed. " +
        'Latency: p50 / p95 / p99 / max ms; received; the whole round p50 / p99; parents enqueued after their slot):',
    );
    for (const name of systems) {
      for (const id of ['children-fanout', 'children-latency']) {
        const g = kids.filter((s) => s.system === name && s.workload === id);
        if (!g.length) continue;
        p(
          `- ${name} / ${id}: ` +
            g
              .map((s) =>
                id === 'children-fanout'
                  ? `${fmtValue(s.value)}/s; ${[s.parentStartMs, s.firstChildMs, s.childrenDoneMs, s.resumedMs, s.elapsedMs].map(fmtValue).join(', ')}`
                  : `${fmtValue(s.latency.p50)} / ${fmtValue(s.latency.p95)} / ${fmtValue(s.latency.p99)} / ${fmtValue(s.latency.max)}; ${s.received}/${s.n}; ` +
                    `${fmtValue(s.round.p50)} / ${fmtValue(s.round.p99)}; ${s.lateSlots} late`,
              )
              .join(' | '),
        );
      }
    }
    p();
  }
  const proc = samples.filter((s) => s.workerStartMs !== undefined);
  if (proc.length) {
    p(
      'Worker start-up (median ms, processing and chain runs): workerStartMs (startWorker() resolved) / firstHandlerMs',
    );
    for (const name of systems) {
      const g = proc.filter((s) => s.system === name);
      if (!g.length) continue;
      p(
        `- ${name}: ${fmtValue(median(g.map((s) => s.workerStartMs)))} / ${fmtValue(median(g.map((s) => s.firstHandlerMs ?? NaN)))}`,
      );
    }
    p();
  }

  // pgbench
  const pgbenchSamples = samples.filter((s) => s.system === 'pgbench');
  if (meta.pgbench?.skippedReason) {
    p(`pgbench reference: skipped (${meta.pgbench.skippedReason}).`);
    p();
  } else if (pgbenchSamples.length) {
    const d = pgbenchSamples[0].durationS ?? 20;
    p(
      `| pgbench reference (-c 10 -j 2 -T ${d}) | tps (median ±spread) | machine CPU / steal |`,
    );
    p('|---|---:|---:|');
    for (const w of PGBENCH_WORKLOADS) {
      const s = sum('pgbench', w.id);
      if (!s) continue;
      const m = sum('pgbench', `cpu-machine:${w.id}`)?.median;
      const st = sum('pgbench', `cpu-steal:${w.id}`)?.median;
      p(
        `| ${w.label} | ${s.n ? `${fmtValue(s.median)}${s.n >= 2 ? ' ' + fmtSpread(s.spreadPct) : ''}` : 'error'} | ${fmtPct(m)} / ${fmtPct(st)} |`,
      );
    }
    const jobs = pgbenchSamples.filter((s) => s.jobsDone !== undefined);
    if (jobs.length) {
      p();
      p(
        `Queue scripts, jobs done vs transactions processed: ${jobs.map((s) => `${s.workload} rep ${s.rep}: ${s.jobsDone}/${s.processed}`).join('; ')}`,
      );
    }
    p();
  }

  p('Systems:');
  for (const s of meta.systems) {
    if (!systems.includes(s.name)) continue;
    p(`- ${s.name}: ${s.description}`);
  }
  for (const r of systemRecs) {
    if (!systems.includes(r.name)) continue;
    if (r.info?.settings?.chainAtomic !== undefined) {
      p(
        `  (${r.name}: chain next step written atomically with the completion: ${r.info.settings.chainAtomic ? 'yes' : 'no'})`,
      );
    }
  }
  return lines.join('\n');
}
