// Shared helpers: paths, clock, CPU accounting, connection strings, statistics.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(BENCH_DIR, '..');
export const RESULTS_DIR = join(BENCH_DIR, 'results');

/** CLOCK_MONOTONIC in µs (system-wide on Linux, so comparable across processes). */
export function nowUs() {
  return Number(process.hrtime.bigint() / 1000n);
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

// ---------------------------------------------------------------- insert workloads

/**
 * The harness's table, in every system's database, that each job of the
 * insert workloads (input `r`) writes one row of its own to, with ROW_INSERT
 * and its `i` as the one parameter. measure.mjs creates and empties it before
 * the preload, and counts its rows after the run.
 */
export const ROW_TABLE = 'public.bench_row';
export const ROW_INSERT = `insert into ${ROW_TABLE} (i) values ($1)`;

// ---------------------------------------------------------------- CPU

/** The aggregate `cpu` line of /proc/stat, in ticks. */
export function readProcStat() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice
    const [
      user,
      nice,
      system,
      idle,
      iowait = 0,
      irq = 0,
      softirq = 0,
      steal = 0,
    ] = f;
    const total = user + nice + system + idle + iowait + irq + softirq + steal;
    return { total, idle: idle + iowait, steal };
  } catch {
    return undefined;
  }
}

/** Machine busy % (of all cores) and steal % between two /proc/stat reads. */
export function machineCpu(a, b) {
  if (!a || !b) return { machineCpuPct: null, stealPct: null };
  const total = b.total - a.total;
  if (total <= 0) return { machineCpuPct: null, stealPct: null };
  return {
    machineCpuPct: round1((100 * (total - (b.idle - a.idle))) / total),
    stealPct: round1((100 * (b.steal - a.steal)) / total),
  };
}

/** % of one core used by this process between `cpu0` (process.cpuUsage()) and now. */
export function processCpuPct(cpu0, wallUs) {
  const d = process.cpuUsage(cpu0);
  return wallUs > 0 ? round1((100 * (d.user + d.system)) / wallUs) : null;
}

export function round1(x) {
  return Math.round(x * 10) / 10;
}
export function round3(x) {
  return Math.round(x * 1000) / 1000;
}

// ---------------------------------------------------------------- Postgres target

export function adminUrl() {
  return (
    process.env.BENCH_DATABASE_URL ||
    'postgres://postgres@127.0.0.1:5432/postgres'
  );
}

/** The admin URL pointed at another database (and at BENCH_PGHOST's socket if set). */
export function dbUrl(database) {
  const u = new URL(adminUrl());
  u.pathname = '/' + encodeURIComponent(database);
  if (process.env.BENCH_PGHOST)
    u.searchParams.set('host', process.env.BENCH_PGHOST);
  return u.toString();
}

/** host / port / user for pgbench and for the meta record. */
export function pgTarget() {
  const u = new URL(adminUrl());
  return {
    host:
      process.env.BENCH_PGHOST ||
      u.searchParams.get('host') ||
      u.hostname ||
      '127.0.0.1',
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username || process.env.USER || 'postgres'),
    adminDatabase: decodeURIComponent(u.pathname.slice(1) || 'postgres'),
  };
}

/**
 * BENCH_DB_SUFFIX (letters, digits, `_`) is appended to every database the
 * harness drops and re-creates, so that two checkouts can run at once
 * without dropping each other's databases (`drop database … with (force)`).
 */
export function dbSuffix() {
  const suffix = process.env.BENCH_DB_SUFFIX ?? '';
  if (!/^[a-zA-Z0-9_]*$/.test(suffix))
    throw new Error(
      `BENCH_DB_SUFFIX must be letters, digits or _, got ${suffix}`,
    );
  return suffix;
}

export function databaseFor(system) {
  return (
    (system.database ?? `bench_${system.name.replace(/[^a-zA-Z0-9_]/g, '_')}`) +
    dbSuffix()
  );
}

// ---------------------------------------------------------------- statistics

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** (max - min) / median, in %. */
export function spreadPct(values) {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return NaN;
  const med = median(v);
  const range = Math.max(...v) - Math.min(...v);
  if (range === 0) return 0;
  return med === 0 ? Infinity : (100 * range) / med;
}

/** Nearest-rank percentile of an ascending array. */
export function nearestRank(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

export function latencyStats(valuesMs) {
  const s = valuesMs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const n = s.length;
  const r = (x) => Math.round(x * 1000) / 1000;
  return {
    n,
    min: n ? r(s[0]) : NaN,
    p50: r(nearestRank(s, 50)),
    p95: r(nearestRank(s, 95)),
    p99: r(nearestRank(s, 99)),
    max: n ? r(s[n - 1]) : NaN,
    mean: n ? r(s.reduce((a, b) => a + b, 0) / n) : NaN,
  };
}

/** JSON.stringify that keeps NaN/Infinity as null-free strings readable by parseRecord. */
export function toJsonLine(obj) {
  return JSON.stringify(obj, (_k, v) =>
    typeof v === 'number' && !Number.isFinite(v)
      ? Number.isNaN(v)
        ? 'NaN'
        : String(v)
      : v,
  );
}

export function parseRecord(line) {
  return JSON.parse(line, (_k, v) =>
    v === 'NaN'
      ? NaN
      : v === 'Infinity'
        ? Infinity
        : v === '-Infinity'
          ? -Infinity
          : v,
  );
}
