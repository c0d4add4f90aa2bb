#!/usr/bin/env node
// Benchmark orchestrator (shared/bench/PROTOCOL.md): Underway side by side with
// pg-boss and graphile-worker. See bench/README.md.
//
//   node bench/run.mjs [--reps N] [--cap S] [--scale F] [--only w1,w2] [--systems s1,s2]
//                      [--no-fresh] [--no-build] [--pgbench-seconds S] [--out FILE]
//   node bench/run.mjs --report results/peers-<date>.json
import { execFile, fork } from 'node:child_process';
import {
  appendFileSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSubject, loadSystems } from './lib/adapter.mjs';
import {
  BENCH_DIR,
  REPO_ROOT,
  RESULTS_DIR,
  adminUrl,
  databaseFor,
  dbUrl,
  parseRecord,
  pgTarget,
  toJsonLine,
} from './lib/common.mjs';
import {
  PGBENCH_DB,
  initPgbench,
  pgbenchVersion,
  runPgbench,
} from './lib/pgbench.mjs';
import { prepareDatabases, readPgInfo } from './lib/pgadmin.mjs';
import { fmtValue, render, summarize } from './lib/report.mjs';
import {
  ALL_WORKLOAD_IDS,
  PGBENCH_WORKLOADS,
  WORKLOADS,
  WORKLOAD_GROUPS,
  capFor,
  sizeOf,
} from './lib/workloads.mjs';

const MEASURE = fileURLToPath(new URL('./lib/measure.mjs', import.meta.url));
const KILL_AFTER_CAP_S = 240;
const require = createRequire(join(REPO_ROOT, 'package.json'));

const USAGE = `usage: node bench/run.mjs [options]
  --reps N              repetitions per (workload, system) (default 3)
  --cap S               cap of each worker run in seconds (default 60; latency: at least N x 20 ms + 30 s)
  --scale F             multiplies N of every workload (default 1)
  --only a,b            workloads: ${ALL_WORKLOAD_IDS.join(', ')} (also: pgbench = the three pgbench rows, activity = activity-runs + activity-latency, insert = insert-c10 + insert-tx-c10, signal = signal-latency + signal-throughput + sleep-precision, children = children-fanout + children-latency)
  --systems a,b         systems (default: every peers/*.mjs system)
  --no-fresh            keep the bench_* databases instead of dropping and re-creating them
  --no-build            do not compile the library first (use libs/underway/dist as is)
  --pgbench-seconds S   pgbench -T (default 20 x scale, at least 5)
  --out FILE            results file (default bench/results/peers-<date>.json)
  --report FILE         only re-render the table of an existing results file`;

function parseArgs(argv) {
  const o = {
    reps: 3,
    cap: 60,
    scale: 1,
    only: null,
    systems: null,
    fresh: true,
    build: true,
    report: null,
    out: null,
    pgbenchSeconds: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = (name, v, min) => {
      const x = Number(v);
      if (!Number.isFinite(x) || x < min)
        throw new Error(`${name} must be a number ≥ ${min}, got ${v}`);
      return x;
    };
    switch (a) {
      case '--reps':
        o.reps = Math.round(num(a, val(), 1));
        break;
      case '--cap':
        o.cap = num(a, val(), 1);
        break;
      case '--scale':
        o.scale = num(a, val(), 0.0001);
        break;
      case '--only':
        o.only = val()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        break;
      case '--systems':
        o.systems = val()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        break;
      case '--no-fresh':
        o.fresh = false;
        break;
      case '--no-build':
        o.build = false;
        break;
      case '--pgbench-seconds':
        o.pgbenchSeconds = Math.round(num(a, val(), 1));
        break;
      case '--out':
        o.out = val();
        break;
      case '--report':
        o.report = val();
        break;
      case '-h':
      case '--help':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${a}\n${USAGE}`);
    }
  }
  if (o.only) {
    o.only = o.only.flatMap((id) => WORKLOAD_GROUPS[id] ?? [id]);
    for (const id of o.only) {
      if (!ALL_WORKLOAD_IDS.includes(id))
        throw new Error(
          `unknown workload ${id} (known: ${ALL_WORKLOAD_IDS.join(', ')}, ${Object.keys(WORKLOAD_GROUPS).join(', ')})`,
        );
    }
  }
  return o;
}

function sh(cmd, args, opts = {}) {
  return new Promise((resolveP) => {
    execFile(
      cmd,
      args,
      { cwd: REPO_ROOT, maxBuffer: 16 << 20, ...opts },
      (err, stdout, stderr) =>
        resolveP({
          ok: !err,
          code: err?.code ?? 0,
          stdout: String(stdout),
          stderr: String(stderr),
        }),
    );
  });
}

function readRecords(file) {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map(parseRecord);
}

/** One measurement in a fresh process; SIGTERM by PID past cap + 240 s. */
function measure(spec, capS) {
  return new Promise((resolveP) => {
    const child = fork(MEASURE, [JSON.stringify(spec)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let sample;
    let killedForTime = false;
    const timer = setTimeout(
      () => {
        killedForTime = true;
        console.error(
          `[run] ${spec.system} ${spec.workload}: still running after ${capS + KILL_AFTER_CAP_S}s, SIGTERM ${child.pid}`,
        );
        try {
          process.kill(child.pid, 'SIGTERM');
        } catch {
          /* gone */
        }
        setTimeout(() => {
          try {
            process.kill(child.pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }, 15_000).unref();
      },
      (capS + KILL_AFTER_CAP_S) * 1000,
    );
    current = child;
    child.on('message', (m) => {
      if (m?.type === 'sample') sample = m.sample;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      current = undefined;
      if (!sample) {
        sample = {
          value: NaN,
          error: killedForTime
            ? `killed after cap + ${KILL_AFTER_CAP_S}s`
            : `measure process exited without a sample (code ${code}, signal ${signal})`,
        };
      }
      resolveP(sample);
    });
  });
}

let current;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (current) {
      try {
        process.kill(current.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    process.exit(130);
  });
}

function progressLine(sample) {
  if (sample.error) return `ERROR ${sample.error}`;
  if (sample.na) return 'n/a';
  let s;
  if (sample.workload === 'latency') {
    s = `p50 ${fmtValue(sample.latency.p50)} / p95 ${fmtValue(sample.latency.p95)} / p99 ${fmtValue(sample.latency.p99)} ms (${sample.received}/${sample.n})`;
  } else if (sample.workload === 'activity-latency') {
    const b = sample.baseline;
    s =
      `with a call p50 ${fmtValue(sample.latency.p50)} / p99 ${fmtValue(sample.latency.p99)} ms (${sample.received}/${sample.n}), ` +
      `without p50 ${fmtValue(b.latency.p50)} / p99 ${fmtValue(b.latency.p99)} ms (${b.received}/${sample.n}): ` +
      `added p50 ${fmtValue(sample.addedMs.p50)} / p99 ${fmtValue(sample.addedMs.p99)} ms`;
  } else if (
    sample.workload === 'signal-latency' ||
    sample.workload === 'sleep-precision'
  ) {
    const l = sample.latency;
    s = `p50 ${fmtValue(l.p50)} / p95 ${fmtValue(l.p95)} / p99 ${fmtValue(l.p99)} / max ${fmtValue(l.max)} ms (${sample.received}/${sample.n})`;
    if (sample.transaction)
      s += `; transaction p50 ${fmtValue(sample.transaction.p50)} / p99 ${fmtValue(sample.transaction.p99)}, commit -> resumed p50 ${fmtValue(sample.afterCommit.p50)} / p99 ${fmtValue(sample.afterCommit.p99)}`;
    if (sample.overshoot)
      s += `, past ${sample.sleepMs} ms: p50 ${fmtValue(sample.overshoot.p50)} / p99 ${fmtValue(sample.overshoot.p99)}`;
  } else if (sample.workload === 'signal-throughput') {
    s = `${fmtValue(sample.value)} signals/s (sent at ${fmtValue(sample.sendPerSec)}/s), signal -> resumed p50 ${fmtValue(sample.latency.p50)} / p99 ${fmtValue(sample.latency.p99)} ms (${sample.received}/${sample.n})`;
  } else if (sample.workload === 'children-fanout') {
    s =
      `${fmtValue(sample.value)} children/s (${sample.n} children in ${fmtValue(sample.elapsedMs)} ms; ` +
      `parent started ${fmtValue(sample.parentStartMs)}, first child ${fmtValue(sample.firstChildMs)}, ` +
      `all children ran ${fmtValue(sample.childrenDoneMs)}, parent resumed ${fmtValue(sample.resumedMs)} ms)`;
  } else if (sample.workload === 'children-latency') {
    const l = sample.latency;
    s =
      `child returned -> parent resumed p50 ${fmtValue(l.p50)} / p95 ${fmtValue(l.p95)} / p99 ${fmtValue(l.p99)} / max ${fmtValue(l.max)} ms (${sample.received}/${sample.n}); ` +
      `enqueue -> parent resumed p50 ${fmtValue(sample.round.p50)} / p99 ${fmtValue(sample.round.p99)}`;
  } else if (sample.workload === 'chain') {
    s = `${fmtValue(sample.value)} chains/s, ${fmtValue(sample.stepsPerSec)} steps/s`;
  } else {
    s = `${fmtValue(sample.value)} ${sample.unit}`;
  }
  if (sample.capped) s += ' CAPPED';
  if (sample.duplicates) s += ` duplicates=${sample.duplicates}`;
  if (sample.checkFailed) s += ` CHECK FAILED: ${sample.checkFailed}`;
  return s;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.report) {
    console.log(render(readRecords(resolve(o.report))));
    return;
  }

  let systems = await loadSystems();
  if (o.systems) {
    for (const name of o.systems) {
      if (!systems.some((s) => s.name === name)) {
        throw new Error(
          `unknown system ${name} (known: ${systems.map((s) => s.name).join(', ')})`,
        );
      }
    }
    systems = systems.filter((s) => o.systems.includes(s.name));
  }
  const workloads = WORKLOADS.filter((w) => !o.only || o.only.includes(w.id));
  const pgbenchWorkloads = PGBENCH_WORKLOADS.filter(
    (w) => !o.only || o.only.includes(w.id),
  );
  // Only the systems that run a selected workload (the peers have no
  // activities nor transactional steps).
  systems = systems.filter((s) =>
    workloads.some((w) => !w.subjectOnly || isSubject(s)),
  );

  // Build the library under test (the adapter loads its compiled JS).
  if (o.build && systems.some(isSubject) && workloads.length) {
    process.stdout.write(
      '[run] building the library: npx tsc -p libs/underway/tsconfig.lib.json … ',
    );
    const r = await sh('npx', ['tsc', '-p', 'libs/underway/tsconfig.lib.json']);
    if (!r.ok) {
      console.log('FAILED');
      console.error(r.stdout + r.stderr);
      throw new Error(
        'the library does not compile (use --no-build to run the existing libs/underway/dist)',
      );
    }
    console.log('ok');
  }

  const startedAt = new Date();
  const stamp = startedAt
    .toISOString()
    .replace(/[:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const outFile = resolve(o.out ?? join(RESULTS_DIR, `peers-${stamp}.json`));
  mkdirSync(join(outFile, '..'), { recursive: true });
  writeFileSync(outFile, '');
  const write = (rec) => appendFileSync(outFile, toJsonLine(rec) + '\n');

  const pgVersion = await pgbenchVersion();
  const pgbenchSeconds =
    o.pgbenchSeconds ?? Math.max(5, Math.round(20 * o.scale));
  const pg = await readPgInfo();
  const git = await sh('git', ['rev-parse', 'HEAD']);
  const gitStatus = await sh('git', [
    'status',
    '--porcelain',
    '--',
    'libs',
    'migrations',
  ]);
  const version = (name) => {
    try {
      return require(`${name}/package.json`).version;
    } catch {
      return 'unknown';
    }
  };
  let underwayVersion = 'unknown';
  try {
    underwayVersion = JSON.parse(
      readFileSync(join(REPO_ROOT, 'libs/underway/package.json'), 'utf8'),
    ).version;
  } catch {
    /* keep */
  }

  const dbs = systems.map((s) => databaseFor(s));
  if (pgbenchWorkloads.length && pgVersion) dbs.push(PGBENCH_DB);
  await prepareDatabases(dbs, { fresh: o.fresh });

  const meta = {
    type: 'meta',
    startedAt: startedAt.toISOString(),
    host: {
      hostname: os.hostname(),
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model?.trim(),
      memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      kernel: `${os.type()} ${os.release()}`,
      loadavg: os.loadavg(),
    },
    node: process.version,
    versions: {
      'pg-boss': version('pg-boss'),
      'graphile-worker': version('graphile-worker'),
      pg: version('pg'),
      '@underway/nestjs': underwayVersion,
    },
    git: git.ok
      ? { commit: git.stdout.trim(), dirty: gitStatus.stdout.trim().length > 0 }
      : undefined,
    pgbench: pgVersion
      ? { version: pgVersion, seconds: pgbenchSeconds }
      : {
          skippedReason: 'pgbench is not installed (which pgbench: not found)',
        },
    postgres: {
      target: {
        ...pgTarget(),
        url: adminUrl().replace(/:[^:@/]*@/, ':***@'),
        socket: process.env.BENCH_PGHOST ?? null,
      },
      version: pg.version,
      settings: pg.settings,
    },
    options: {
      reps: o.reps,
      cap: o.cap,
      scale: o.scale,
      only: o.only,
      systems: o.systems,
      fresh: o.fresh,
      build: o.build,
    },
    workloads: [
      ...workloads.map((w) => ({
        id: w.id,
        n: sizeOf(w, o.scale),
        cap: capFor(w, sizeOf(w, o.scale), o.cap),
        unit: w.unit,
        definition: w.definition,
      })),
      ...pgbenchWorkloads.map((w) => ({
        id: w.id,
        unit: w.unit,
        definition: w.label,
      })),
    ],
    systems: systems.map((s) => ({
      name: s.name,
      peer: s.peer,
      description: s.description,
      database: databaseFor(s),
      subject: isSubject(s),
    })),
  };
  write(meta);
  for (const s of systems) {
    const info = s
      .create({
        connectionString: dbUrl(databaseFor(s)),
        database: databaseFor(s),
        role: 'worker',
        systemName: s.name,
      })
      .info();
    write({ type: 'system', name: s.name, description: s.description, info });
  }
  console.log(`[run] results: ${outFile}`);
  console.log(
    `[run] ${workloads.length} workloads x ${o.reps} reps x ${systems.length} systems` +
      (pgbenchWorkloads.length
        ? `, pgbench: ${pgVersion ? `${pgbenchWorkloads.length} x ${o.reps} x ${pgbenchSeconds}s` : 'skipped (not installed)'}`
        : ''),
  );

  // Workload-major; within each rep all systems one after the other (rule 2).
  for (const w of workloads) {
    const n = sizeOf(w, o.scale);
    const cap = capFor(w, n, o.cap);
    for (let rep = 1; rep <= o.reps; rep++) {
      // Workloads that only the library under test can run (activities,
      // transactional steps).
      for (const s of systems.filter((x) => !w.subjectOnly || isSubject(x))) {
        const t = Date.now();
        const spec = {
          system: s.name,
          workload: w.id,
          rep,
          cap: o.cap,
          scale: o.scale,
          database: databaseFor(s),
          connectionString: dbUrl(databaseFor(s)),
        };
        const result = await measure(spec, cap * (w.phases?.length ?? 1));
        const sample = {
          type: 'sample',
          system: s.name,
          peer: s.peer,
          workload: w.id,
          rep,
          unit: w.unit,
          n,
          ...result,
        };
        write(sample);
        console.log(
          `[${w.id} ${rep}/${o.reps}] ${s.name.padEnd(15)} ${progressLine(sample)}  (${((Date.now() - t) / 1000).toFixed(1)}s)`,
        );
      }
    }
  }

  if (pgbenchWorkloads.length) {
    if (!pgVersion) {
      console.log(
        '[run] pgbench is not installed: the pgbench reference rows are skipped',
      );
    } else {
      process.stdout.write(`[run] pgbench -i -s 10 ${PGBENCH_DB} … `);
      const init = await initPgbench();
      console.log(init.skipped ? 'already initialised' : 'done');
      for (const w of pgbenchWorkloads) {
        for (let rep = 1; rep <= o.reps; rep++) {
          let result;
          try {
            result = await runPgbench(w, pgbenchSeconds);
          } catch (err) {
            result = { value: NaN, error: String(err?.message || err) };
          }
          const sample = {
            type: 'sample',
            system: 'pgbench',
            peer: 'pgbench',
            workload: w.id,
            rep,
            unit: 'tps',
            ...result,
          };
          write(sample);
          console.log(
            `[${w.id} ${rep}/${o.reps}] ${result.error ? 'ERROR ' + result.error : `${fmtValue(result.value)} tps`}`,
          );
        }
      }
    }
  }

  const records = readRecords(outFile);
  for (const s of summarize(records)) write(s);
  console.log();
  console.log(render(readRecords(outFile)));
  console.log();
  console.log(
    `[run] results written to ${outFile} (re-render: node bench/run.mjs --report ${outFile})`,
  );
  void BENCH_DIR;
}

main().catch((err) => {
  console.error(err?.stack || err);
  process.exit(1);
});
