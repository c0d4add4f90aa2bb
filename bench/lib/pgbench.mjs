// The pgbench reference rows (PROTOCOL.md §6): machine + Postgres limits.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import {
  BENCH_DIR,
  dbSuffix,
  dbUrl,
  machineCpu,
  pgTarget,
  readProcStat,
} from './common.mjs';

export const PGBENCH_DB = `bench_pgbench${dbSuffix()}`;
const SCALE = 10;

/** `pgbench (PostgreSQL) 15.x`, or null when pgbench is not installed. */
export function pgbenchVersion() {
  return new Promise((resolve) => {
    execFile('pgbench', ['--version'], (err, stdout) =>
      resolve(err ? null : stdout.trim()),
    );
  });
}

function connArgs() {
  const t = pgTarget();
  return ['-h', t.host, '-p', String(t.port), '-U', t.user];
}

function runCommand(args) {
  return new Promise((resolve, reject) => {
    const child = spawn('pgbench', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

async function withDb(fn) {
  const client = new pg.Client({ connectionString: dbUrl(PGBENCH_DB) });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** `pgbench -i -s 10` unless the database already holds its tables (with --no-fresh). */
export async function initPgbench() {
  const exists = await withDb(
    async (c) =>
      (await c.query("select to_regclass('pgbench_accounts') is not null as e"))
        .rows[0].e,
  );
  if (exists) return { skipped: true };
  const args = [...connArgs(), '-i', '-q', '-s', String(SCALE), PGBENCH_DB];
  const r = await runCommand(args);
  if (r.code !== 0) throw new Error(`pgbench -i failed: ${r.err || r.out}`);
  return { command: `pgbench ${args.join(' ')}` };
}

function parse(out) {
  const num = (re) => {
    const m = out.match(re);
    return m ? Number(m[1]) : NaN;
  };
  return {
    tps: num(/tps = ([\d.]+) \(without initial connection time\)/),
    latencyAvgMs: num(/latency average = ([\d.]+) ms/),
    processed: num(/number of transactions actually processed: (\d+)/),
    failed: /number of failed transactions/.test(out)
      ? num(/number of failed transactions: (\d+)/)
      : 0,
  };
}

/** One pgbench measurement; returns the sample fields. */
export async function runPgbench(w, durationS) {
  const common = [
    ...connArgs(),
    '-c',
    '10',
    '-j',
    '2',
    '-T',
    String(durationS),
  ];
  let args;
  await withDb(async (c) => {
    if (w.script) {
      await c.query(
        readFileSync(join(BENCH_DIR, 'pgbench/queue-schema.sql'), 'utf8'),
      );
    } else {
      await c.query('vacuum analyze');
    }
    await c.query('checkpoint');
  });
  if (w.script) {
    args = [
      ...common,
      '-n',
      '-M',
      'prepared',
      '-f',
      join(BENCH_DIR, 'pgbench', w.script),
      PGBENCH_DB,
    ];
  } else {
    args = [...common, PGBENCH_DB];
  }
  const stat0 = readProcStat();
  const r = await runCommand(args);
  const stat1 = readProcStat();
  const command = `pgbench ${args.join(' ').replace(join(BENCH_DIR, ''), 'bench/')}`;
  if (r.code !== 0) {
    return {
      value: NaN,
      error: (r.err || r.out).trim().split('\n').slice(-3).join(' | '),
      command,
    };
  }
  const p = parse(r.out);
  const jobsDone = w.script
    ? await withDb(
        async (c) =>
          (await c.query('select count(*)::int as n from q where state = 2'))
            .rows[0].n,
      )
    : undefined;
  return {
    value: p.tps,
    latencyAvgMs: p.latencyAvgMs,
    failed: p.failed,
    processed: p.processed,
    ...(jobsDone !== undefined ? { jobsDone } : {}),
    durationS,
    command,
    ...machineCpu(stat0, stat1),
  };
}
