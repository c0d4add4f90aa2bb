// One measurement = one fresh process (PROTOCOL.md §4 rule 1): a producer adapter,
// init() + reset(), the workload, and for worker workloads a separate worker process
// (worker-child.mjs). Spawned by run.mjs with one JSON argument:
//   { system, workload, rep, cap, scale, database, connectionString }
// Sends { type: 'sample', sample } over IPC (or prints it when run by hand).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { getSystem } from './adapter.mjs';
import {
  ROW_TABLE,
  latencyStats,
  machineCpu,
  nowUs,
  readProcStat,
  round1,
  round3,
  sleep,
} from './common.mjs';
import { capFor, sizeOf, workloadById } from './workloads.mjs';

const WORKER_CHILD = fileURLToPath(
  new URL('./worker-child.mjs', import.meta.url),
);
const STOP_GRACE_MS = 25_000;
const POLL_MS = 5;

const spec = JSON.parse(process.argv[2]);
let worker; // WorkerProcess

/** The forked worker process and its IPC messages. */
class WorkerProcess {
  constructor() {
    this.proc = fork(WORKER_CHILD, [], {
      // BENCH_WORKER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the
      // worker (Node refuses --cpu-prof in NODE_OPTIONS).
      execArgv: (process.env.BENCH_WORKER_NODE_ARGS ?? '')
        .split(' ')
        .filter(Boolean),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: process.env,
    });
    this.queue = [];
    this.waiters = [];
    this.errors = [];
    this.exited = null;
    this.proc.on('message', (m) => this.onMessage(m));
    this.proc.on('exit', (code, signal) => {
      this.exited = { code, signal };
      const err = new Error(
        `worker process exited (code ${code}, signal ${signal})`,
      );
      for (const w of this.waiters.splice(0)) w.reject(err);
    });
  }

  onMessage(m) {
    if (m.type === 'error') {
      this.errors.push(m);
      console.error(
        `[${spec.system} worker] error in ${m.where}: ${m.message}`,
      );
      const err = new Error(
        `worker error in ${m.where}: ${m.message.split('\n')[0]}`,
      );
      for (const w of this.waiters.splice(0)) w.reject(err);
      return;
    }
    const i = this.waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w.resolve(m);
    } else {
      this.queue.push(m);
    }
  }

  send(m) {
    this.proc.send(m);
  }

  /** The next message of `type`; rejects after timeoutMs (or resolves null if soft). */
  wait(type, timeoutMs, { soft = false } = {}) {
    const i = this.queue.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    if (this.exited)
      return Promise.reject(new Error('worker process has exited'));
    return new Promise((resolve, reject) => {
      const waiter = {
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(
        () => {
          const at = this.waiters.indexOf(waiter);
          if (at >= 0) this.waiters.splice(at, 1);
          if (soft) resolve(null);
          else
            reject(
              new Error(
                `timed out after ${Math.round(timeoutMs)} ms waiting for '${type}' from the worker`,
              ),
            );
        },
        Math.max(0, timeoutMs),
      );
      this.waiters.push(waiter);
    });
  }

  async request(type, payload = {}, timeoutMs = 120_000) {
    const reply = { init: 'ready', start: 'started', stats: 'stats' }[type];
    this.send({ type, ...payload });
    return this.wait(reply, timeoutMs);
  }

  /** Graceful stop() first, SIGKILL by PID after 25 s. */
  async stop() {
    if (this.exited) return { graceful: this.exited.code === 0 };
    const exited = new Promise((r) => this.proc.once('exit', r));
    try {
      this.send({ type: 'stop' });
    } catch {
      /* channel closed */
    }
    const timer = sleep(STOP_GRACE_MS).then(() => 'timeout');
    if ((await Promise.race([exited, timer])) === 'timeout') {
      console.error(
        `[${spec.system}] worker did not exit within ${STOP_GRACE_MS / 1000}s of stop(); SIGKILL ${this.proc.pid}`,
      );
      try {
        process.kill(this.proc.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await exited;
      return { graceful: false };
    }
    return { graceful: true };
  }

  kill() {
    if (!this.exited) {
      try {
        process.kill(this.proc.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

process.on('SIGTERM', () => {
  worker?.kill();
  process.exit(143);
});

// ------------------------------------------------------------------ helpers

async function settle(admin, { analyze }) {
  if (analyze) await admin.query('vacuum analyze');
  await admin.query('checkpoint');
}

async function preload(adapter, inputs) {
  if (adapter.enqueueBatch) {
    for (let k = 0; k < inputs.length; k += 1000) {
      await adapter.enqueueBatch(inputs.slice(k, k + 1000));
    }
  } else {
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < inputs.length) await adapter.enqueue(inputs[next++]);
      }),
    );
  }
}

/** Polls outstanding() every 5 ms until 0 or the deadline; returns { zeroAt } or { outstanding }. */
async function pollOutstanding(adapter, deadlineUs) {
  for (;;) {
    const n = await adapter.outstanding();
    const at = nowUs();
    if (n === 0) return { zeroAt: at, outstanding: 0 };
    if (at >= deadlineUs) return { zeroAt: null, outstanding: n };
    await sleep(Math.min(POLL_MS, (deadlineUs - at) / 1000));
  }
}

async function startWorkerProcess(ctx) {
  worker = new WorkerProcess();
  await worker.request('init', { systemName: spec.system, ctx }, 180_000);
  return worker;
}

// ------------------------------------------------------------------ workloads

async function runEnqueue(w, n, adapter, admin) {
  const batch = w.kind === 'enqueue-batch';
  if (batch && !adapter.enqueueBatch) {
    return { value: NaN, na: true, note: 'no batch enqueue' };
  }
  // Warm-up (rule 9): 200 sequential, 200 from 10 callers, one batch of 1000.
  for (let k = 0; k < 200; k++) await adapter.enqueue({ i: k });
  await Promise.all(
    Array.from({ length: 10 }, async (_, c) => {
      for (let k = 0; k < 20; k++)
        await adapter.enqueue({ i: 200 + c * 20 + k });
    }),
  );
  if (adapter.enqueueBatch) {
    await adapter.enqueueBatch(
      Array.from({ length: 1000 }, (_, k) => ({ i: 400 + k })),
    );
  }
  await adapter.reset();
  await settle(admin, { analyze: false });

  const stat0 = readProcStat();
  const cpu0 = process.cpuUsage();
  const start = nowUs();
  if (batch) {
    for (let k = 0; k < n; k += w.batch) {
      const size = Math.min(w.batch, n - k);
      await adapter.enqueueBatch(
        Array.from({ length: size }, (_, j) => ({ i: k + j })),
      );
    }
  } else {
    const callers = w.callers;
    const each = n / callers;
    await Promise.all(
      Array.from({ length: callers }, async (_, c) => {
        for (let k = 0; k < each; k++)
          await adapter.enqueue({ i: c * each + k });
      }),
    );
  }
  const end = nowUs();
  const stat1 = readProcStat();
  const cpu = process.cpuUsage(cpu0);
  const outstandingAfter = await adapter.outstanding();
  const elapsedUs = end - start;
  return {
    value: n / (elapsedUs / 1e6),
    elapsedMs: round3(elapsedUs / 1000),
    producerCpuPct: round1((100 * (cpu.user + cpu.system)) / elapsedUs),
    outstandingAfter,
    ...(outstandingAfter !== n
      ? { checkFailed: `outstanding() = ${outstandingAfter}, expected ${n}` }
      : {}),
    ...machineCpu(stat0, stat1),
  };
}

/** ROW_TABLE (common.mjs), created if need be and emptied before the preload. */
async function prepareRowTable(admin) {
  await admin.query(
    `create table if not exists ${ROW_TABLE} (
       id bigserial primary key,
       i integer not null,
       created_at timestamptz not null default now()
     )`,
  );
  await admin.query(`truncate ${ROW_TABLE} restart identity`);
}

/** Rows written (all, and distinct ids) and the check: one row per job. */
async function countRows(admin, n, capped) {
  const { rows } = await admin.query(
    `select count(*)::int as total, count(distinct i)::int as distinct from ${ROW_TABLE}`,
  );
  const counted = { total: rows[0].total, distinct: rows[0].distinct };
  let failed;
  if (counted.total !== counted.distinct) {
    failed = `${counted.total - counted.distinct} job(s) wrote their row more than once`;
  } else if (!capped && counted.distinct !== n) {
    failed = `${counted.distinct} rows for ${n} jobs`;
  }
  return { rows: counted, ...(failed ? { checkFailed: failed } : {}) };
}

async function runProcessOrChain(w, n, cap, adapter, admin, ctx) {
  const chain = w.kind === 'chain';
  const inputs = chain
    ? Array.from({ length: n }, (_, c) => ({ c, s: 1 }))
    : Array.from({ length: n }, (_, i) => ({ i, ...w.input }));
  if (w.rows) await prepareRowTable(admin);
  await preload(adapter, inputs);
  const preloaded = await adapter.outstanding();
  if (preloaded !== n) {
    throw new Error(`after preloading ${n} jobs, outstanding() = ${preloaded}`);
  }
  await settle(admin, { analyze: true });
  await startWorkerProcess(ctx);

  const stat0 = readProcStat();
  const started = await worker.request('start', {
    kind: w.kind,
    n,
    concurrency: w.concurrency,
  });
  const t0 = started.t0;
  const deadline = t0 + cap * 1e6;
  const done = await worker.wait('handlersDone', (deadline - nowUs()) / 1000, {
    soft: true,
  });
  let end;
  let capped = false;
  let outstandingAtEnd = 0;
  if (done) {
    const polled = await pollOutstanding(adapter, deadline);
    if (polled.zeroAt !== null) {
      end = polled.zeroAt;
    } else {
      capped = true;
      outstandingAtEnd = polled.outstanding;
      end = nowUs();
    }
  } else {
    capped = true;
    outstandingAtEnd = await adapter.outstanding();
    end = nowUs();
  }
  const stat1 = readProcStat();
  const stats = await worker.request('stats');
  const elapsedS = (end - t0) / 1e6;
  const common = {
    elapsedMs: round3((end - t0) / 1000),
    handlersDoneMs: stats.handlersDoneAt
      ? round3((stats.handlersDoneAt - t0) / 1000)
      : null,
    firstHandlerMs: stats.firstHandlerAt
      ? round3((stats.firstHandlerAt - t0) / 1000)
      : null,
    workerStartMs: round3((started.startedAt - t0) / 1000),
    handlerStarts: stats.handlerStarts,
    duplicates: stats.duplicates,
    workerCpuPct: round1((100 * stats.cpuUs) / stats.wallUs),
    capped,
    ...machineCpu(stat0, stat1),
  };
  if (chain) {
    return {
      value: stats.chainsCompleted / elapsedS,
      stepsPerSec: stats.handlerStarts / elapsedS,
      chainsCompleted: stats.chainsCompleted,
      ...common,
      ...(capped ? { outstandingAtCap: outstandingAtEnd } : {}),
    };
  }
  const completed = n - outstandingAtEnd;
  const rows = w.rows ? await countRows(admin, n, capped) : {};
  return { value: completed / elapsedS, completed, ...common, ...rows };
}

/**
 * The latency workload (rule 9 warm-up, open-loop 20 ms slots). A workload
 * with `phases` runs each phase the same way through the same warm worker,
 * job ids `phase * N + k`, with the queue drained, settled and idle for 1 s
 * between phases; odd repetitions run the phases in order, even ones reversed.
 */
async function runLatency(w, n, cap, adapter, admin, ctx, rep) {
  const phases = w.phases ?? [{ id: 'latency', input: {} }];
  await settle(admin, { analyze: false });
  await startWorkerProcess(ctx);
  await worker.request('start', {
    kind: 'latency',
    n: n * phases.length,
    phaseSize: n,
    concurrency: w.concurrency,
  });
  // Warm-up (rule 9): 20 jobs of each phase through the running worker,
  // outstanding() = 0, 1 s idle.
  for (const phase of phases) {
    for (let k = 0; k < w.warmup; k++)
      await adapter.enqueue({ w: k, ...phase.input });
  }
  const warmDeadline = nowUs() + 60e6;
  for (;;) {
    const s = await worker.request('stats');
    if (
      s.warmups >= w.warmup * phases.length &&
      (await adapter.outstanding()) === 0
    )
      break;
    if (nowUs() > warmDeadline)
      throw new Error('latency warm-up did not finish within 60 s');
    await sleep(20);
  }

  const order = phases.map((_, v) => v);
  if (rep % 2 === 0) order.reverse();
  const results = [];
  for (const v of order) {
    await settle(admin, { analyze: false });
    await sleep(1000);
    results[v] = await latencyPhase(w, n, cap, adapter, v, phases[v].input);
  }
  const after = await worker.request('stats', { withLatencies: true });
  const summaries = results.map((r, v) => {
    const received = (after.latUs ?? [])
      .slice(v * n, (v + 1) * n)
      .filter((x) => x !== null);
    return {
      latency: latencyStats(received.map((us) => us / 1000)),
      received: received.length,
      ...r,
    };
  });
  const common = {
    duplicates: after.duplicates,
    handlerStarts: after.handlerStarts,
    capped: summaries.some((r) => r.capped),
  };
  if (!w.phases) {
    return { value: summaries[0].latency.p50, ...summaries[0], ...common };
  }
  // The last phase is the one measured (`call`); the others go by their id.
  const measured = summaries[phases.length - 1];
  const named = Object.fromEntries(
    phases.slice(0, -1).map((phase, v) => [phase.id, summaries[v]]),
  );
  const base = named.baseline;
  const added = base
    ? Object.fromEntries(
        ['p50', 'p95', 'p99'].map((p) => [
          p,
          round3(measured.latency[p] - base.latency[p]),
        ]),
      )
    : undefined;
  return {
    value: measured.latency.p50,
    ...measured,
    ...named,
    addedMs: added,
    phaseOrder: order.map((v) => phases[v].id),
    ...common,
  };
}

/** One phase: N jobs `{ i: phase * N + k, t, ...input }` at fixed slots. */
async function latencyPhase(w, n, cap, adapter, phase, input) {
  const before = await worker.request('stats');
  const stat0 = readProcStat();
  const T0 = nowUs();
  const deadline = T0 + cap * 1e6;
  let maxLagUs = 0;
  for (let k = 0; k < n; k++) {
    const slot = T0 + k * w.slotMs * 1000;
    const wait = slot - nowUs();
    if (wait > 0) await sleep(wait / 1000);
    const t = nowUs();
    maxLagUs = Math.max(maxLagUs, t - slot);
    await adapter.enqueue({ i: phase * n + k, t, ...input });
  }
  const done = await waitPhaseDone(phase, deadline);
  let capped = !done;
  if (done) {
    const polled = await pollOutstanding(adapter, deadline);
    capped = polled.zeroAt === null;
  }
  const stat1 = readProcStat();
  const after = await worker.request('stats');
  return {
    maxSendLagMs: round3(maxLagUs / 1000),
    capped,
    workerCpuPct: round1(
      (100 * (after.cpuUs - before.cpuUs)) / (after.at - before.at),
    ),
    ...machineCpu(stat0, stat1),
  };
}

/** The worker's `phaseDone` of `phase`, or null at the deadline. */
async function waitPhaseDone(phase, deadlineUs) {
  for (;;) {
    const m = await worker.wait('phaseDone', (deadlineUs - nowUs()) / 1000, {
      soft: true,
    });
    if (m === null || m.phase === phase) return m;
  }
}

// ------------------------------------------------------------------ signals and sleeps

/** Polls `check()` every 20 ms until it returns true; throws after timeoutMs. */
async function pollUntil(what, check, timeoutMs) {
  const deadline = nowUs() + timeoutMs * 1000;
  for (;;) {
    if (await check()) return;
    if (nowUs() > deadline)
      throw new Error(`${what}: not reached within ${timeoutMs / 1000} s`);
    await sleep(20);
  }
}

/** Until the worker has seen `count` warm-up runs and none is outstanding. */
async function untilWarm(adapter, count) {
  await pollUntil(
    'warm-up',
    async () =>
      (await worker.request('stats')).warmups >= count &&
      (await adapter.outstanding()) === 0,
    60_000,
  );
}

/** Until `count` runs are parked on their wait (their suspension committed). */
async function untilParked(adapter, count, timeoutMs) {
  await pollUntil(
    `${count} runs parked on ctx.waitFor`,
    async () => (await adapter.waitingForSignal()) === count,
    timeoutMs,
  );
}

/** The end of a timed window: handler ran for all N, then outstanding() = 0. */
async function untilCompleted(adapter, deadlineUs) {
  const done = await worker.wait(
    'handlersDone',
    (deadlineUs - nowUs()) / 1000,
    { soft: true },
  );
  if (!done) return { capped: true, end: nowUs() };
  const polled = await pollOutstanding(adapter, deadlineUs);
  return polled.zeroAt === null
    ? { capped: true, end: nowUs() }
    : { capped: false, end: polled.zeroAt };
}

/**
 * The signal workloads: N runs parked on ctx.waitFor, then one signal each,
 * every one in its own transaction, open-loop at fixed slots (signal-latency)
 * or from concurrent callers as fast as they go (signal-throughput). The
 * handler records its start - `t`, the clock read just before the send.
 */
async function runSignal(w, n, cap, adapter, admin, ctx) {
  await settle(admin, { analyze: false });
  await startWorkerProcess(ctx);
  await worker.request('start', {
    kind: 'latency',
    n,
    concurrency: w.concurrency,
  });
  // Warm-up (as rule 9): 20 runs parked and signalled through the running
  // worker, outstanding() = 0.
  const warm = await adapter.enqueueBatch(
    Array.from({ length: w.warmup }, (_, k) => ({ w: k, sig: 1 })),
  );
  await untilParked(adapter, w.warmup, 60_000);
  for (const id of warm) await adapter.signal(id, { t: nowUs() });
  await untilWarm(adapter, w.warmup);

  // Park N runs: each step's first execution suspends on its wait.
  const parkStart = nowUs();
  const ids = [];
  for (let k = 0; k < n; k += 1000) {
    const size = Math.min(1000, n - k);
    ids.push(
      ...(await adapter.enqueueBatch(
        Array.from({ length: size }, (_, j) => ({ i: k + j, sig: 1 })),
      )),
    );
  }
  await untilParked(adapter, n, 300_000);
  const parkMs = round3((nowUs() - parkStart) / 1000);
  // The queue holds its representative content: settle with ANALYZE, idle 1 s.
  await settle(admin, { analyze: true });
  await sleep(1000);

  const before = await worker.request('stats');
  const stat0 = readProcStat();
  const T0 = nowUs();
  const deadline = T0 + cap * 1e6;
  let maxLagUs = 0;
  // Per run: the sender's transaction, from the clock read in the payload
  // to its commit returned.
  const txUs = new Array(n).fill(null);
  const send = async (k) => {
    const t = nowUs();
    await adapter.signal(ids[k], { t });
    txUs[k] = nowUs() - t;
  };
  if (w.callers) {
    let next = 0;
    await Promise.all(
      Array.from({ length: w.callers }, async () => {
        while (next < n) await send(next++);
      }),
    );
  } else {
    for (let k = 0; k < n; k++) {
      const slot = T0 + k * w.slotMs * 1000;
      const wait = slot - nowUs();
      if (wait > 0) await sleep(wait / 1000);
      maxLagUs = Math.max(maxLagUs, nowUs() - slot);
      await send(k);
    }
  }
  const sentAt = nowUs();
  const { capped, end } = await untilCompleted(adapter, deadline);
  const stat1 = readProcStat();
  const after = await worker.request('stats', { withLatencies: true });
  const latUs = after.latUs ?? [];
  const received = latUs.filter((x) => x !== null);
  const latency = latencyStats(received.map((us) => us / 1000));
  const both = txUs
    .map((tx, k) => [tx, latUs[k]])
    .filter(([tx, lat]) => tx !== null && lat != null);
  const elapsedS = (end - T0) / 1e6;
  const common = {
    latency,
    // Of which: the sender's transaction (begin → commit returned), and
    // from its commit returned to the step resumed (can be < 0: the wake-up
    // may overtake the commit's reply).
    transaction: latencyStats(both.map(([tx]) => tx / 1000)),
    afterCommit: latencyStats(both.map(([tx, lat]) => (lat - tx) / 1000)),
    received: received.length,
    parkMs,
    sendMs: round3((sentAt - T0) / 1000),
    elapsedMs: round3((end - T0) / 1000),
    duplicates: after.duplicates,
    handlerStarts: after.handlerStarts,
    capped,
    workerCpuPct: round1(
      (100 * (after.cpuUs - before.cpuUs)) / (after.at - before.at),
    ),
    ...machineCpu(stat0, stat1),
  };
  if (w.callers) {
    return {
      value: (n - (capped ? await adapter.outstanding() : 0)) / elapsedS,
      sendPerSec: n / ((sentAt - T0) / 1e6),
      ...common,
    };
  }
  return {
    value: latency.p50,
    maxSendLagMs: round3(maxLagUs / 1000),
    ...common,
  };
}

/**
 * The sleep workload: N runs enqueued open-loop at fixed slots, each step
 * sleeping `w.sleepMs`; the handler records its start (in the replay, after
 * the sleep) - when the first execution reached the sleep.
 */
async function runSleep(w, n, cap, adapter, admin, ctx) {
  await settle(admin, { analyze: false });
  await startWorkerProcess(ctx);
  await worker.request('start', {
    kind: 'latency',
    n,
    concurrency: w.concurrency,
  });
  for (let k = 0; k < w.warmup; k++)
    await adapter.enqueue({ w: k, sleep: w.sleepMs });
  await untilWarm(adapter, w.warmup);
  await settle(admin, { analyze: false });
  await sleep(1000);

  const before = await worker.request('stats');
  const stat0 = readProcStat();
  const T0 = nowUs();
  const deadline = T0 + cap * 1e6;
  let maxLagUs = 0;
  for (let k = 0; k < n; k++) {
    const slot = T0 + k * w.slotMs * 1000;
    const wait = slot - nowUs();
    if (wait > 0) await sleep(wait / 1000);
    maxLagUs = Math.max(maxLagUs, nowUs() - slot);
    await adapter.enqueue({ i: k, sleep: w.sleepMs });
  }
  const { capped } = await untilCompleted(adapter, deadline);
  const stat1 = readProcStat();
  const after = await worker.request('stats', { withLatencies: true });
  const received = (after.latUs ?? []).filter((x) => x !== null);
  const delays = received.map((us) => us / 1000);
  const latency = latencyStats(delays);
  return {
    value: latency.p50,
    latency,
    overshoot: latencyStats(delays.map((ms) => ms - w.sleepMs)),
    sleepMs: w.sleepMs,
    received: received.length,
    maxSendLagMs: round3(maxLagUs / 1000),
    duplicates: after.duplicates,
    handlerStarts: after.handlerStarts,
    capped,
    workerCpuPct: round1(
      (100 * (after.cpuUs - before.cpuUs)) / (after.at - before.at),
    ),
    ...machineCpu(stat0, stat1),
  };
}

// ------------------------------------------------------------------ child workflows

/**
 * children-fanout: through a warm idle worker, one parent whose step awaits
 * N children (Promise.all of ctx.child), from the parent's enqueue call to
 * every child run, the parent resumed and outstanding() = 0.
 */
async function runFanout(w, n, cap, adapter, admin, ctx) {
  await settle(admin, { analyze: false });
  await startWorkerProcess(ctx);
  await worker.request('start', {
    kind: 'fanout',
    n,
    concurrency: w.concurrency,
  });
  // Warm-up: one parent of w.warmupChildren children, outstanding() = 0.
  await adapter.enqueue({ w: 0, children: w.warmupChildren });
  await untilWarm(adapter, 1);
  await settle(admin, { analyze: false });
  await sleep(1000);

  const before = await worker.request('stats');
  const stat0 = readProcStat();
  const T0 = nowUs();
  const deadline = T0 + cap * 1e6;
  await adapter.enqueue({ i: 0, children: n });
  const enqueuedAt = nowUs();
  const { capped, end } = await untilCompleted(adapter, deadline);
  const stat1 = readProcStat();
  const after = await worker.request('stats');
  const f = after.fanout ?? {};
  const ms = (at) => (at == null ? null : round3((at - T0) / 1000));
  // Capped: the children that finished (outstanding() counts the parent too).
  const finished = capped
    ? n - Math.max(0, (await adapter.outstanding()) - 1)
    : n;
  return {
    value: finished / ((end - T0) / 1e6),
    elapsedMs: round3((end - T0) / 1000),
    // Milestones, ms after the parent's enqueue call started.
    enqueueMs: ms(enqueuedAt),
    parentStartMs: ms(f.parentFirstAt),
    firstChildMs: ms(f.firstChildAt),
    childrenDoneMs: ms(f.childrenDoneAt),
    resumedMs: ms(f.parentResumedAt),
    outputsOk: f.outputsOk,
    ...(f.outputsOk === false
      ? { checkFailed: "the parent's outputs are not every child's { k }" }
      : {}),
    completed: finished,
    duplicates: after.duplicates,
    handlerStarts: after.handlerStarts,
    capped,
    workerCpuPct: round1(
      (100 * (after.cpuUs - before.cpuUs)) / (after.at - before.at),
    ),
    ...machineCpu(stat0, stat1),
  };
}

/**
 * children-latency: N parents, one at a time through a warm idle worker, each
 * awaiting one child; the worker records, per parent, when ctx.child returned
 * in its replay - when the child's step was about to return. Each parent is
 * enqueued at its slot, or once the previous one resumed if that is later.
 */
async function runChildLatency(w, n, cap, adapter, admin, ctx) {
  await settle(admin, { analyze: false });
  await startWorkerProcess(ctx);
  await worker.request('start', {
    kind: 'latency',
    n,
    phaseSize: 1,
    concurrency: w.concurrency,
  });
  for (let k = 0; k < w.warmup; k++)
    await adapter.enqueue({ w: k, children: 1, lat: 1 });
  await untilWarm(adapter, w.warmup);
  await settle(admin, { analyze: false });
  await sleep(1000);

  const before = await worker.request('stats');
  const stat0 = readProcStat();
  const T0 = nowUs();
  const deadline = T0 + cap * 1e6;
  // Per parent: its enqueue call start -> its handler (ctx.child returned).
  const roundUs = new Array(n).fill(null);
  let late = 0;
  let capped = false;
  for (let k = 0; k < n; k++) {
    const wait = T0 + k * w.slotMs * 1000 - nowUs();
    if (wait > 0) await sleep(wait / 1000);
    else if (k > 0) late += 1;
    const t = nowUs();
    await adapter.enqueue({ i: k, children: 1, lat: 1 });
    const m = await waitPhaseDone(k, deadline);
    if (m === null) {
      capped = true;
      break;
    }
    roundUs[k] = m.at - t;
  }
  if (!capped) {
    const polled = await pollOutstanding(adapter, deadline);
    capped = polled.zeroAt === null;
  }
  const stat1 = readProcStat();
  const after = await worker.request('stats', { withLatencies: true });
  const received = (after.latUs ?? []).filter((x) => x !== null);
  const latency = latencyStats(received.map((us) => us / 1000));
  return {
    value: latency.p50,
    latency,
    // The whole round: parent enqueued, run, suspended with its child
    // enqueued, the child run and committed, the parent woken and replayed.
    round: latencyStats(
      roundUs.filter((x) => x !== null).map((us) => us / 1000),
    ),
    received: received.length,
    lateSlots: late,
    duplicates: after.duplicates,
    handlerStarts: after.handlerStarts,
    capped,
    workerCpuPct: round1(
      (100 * (after.cpuUs - before.cpuUs)) / (after.at - before.at),
    ),
    ...machineCpu(stat0, stat1),
  };
}

// ------------------------------------------------------------------ main

/** Whether the workload's runs await an activity call (`a` in their input). */
function callsActivities(w) {
  return [w.input, ...(w.phases ?? []).map((p) => p.input)].some(
    (input) => input?.a !== undefined,
  );
}

async function main() {
  const w = workloadById(spec.workload);
  if (!w) throw new Error(`unknown workload ${spec.workload}`);
  const n = sizeOf(w, spec.scale);
  const cap = capFor(w, n, spec.cap);
  const def = await getSystem(spec.system);
  const ctx = {
    connectionString: spec.connectionString,
    database: spec.database,
    systemName: spec.system,
  };
  const adapter = def.create({ ...ctx, role: 'producer' });
  const admin = new pg.Client({ connectionString: spec.connectionString });
  admin.on('error', () => undefined);
  await admin.connect();
  let result;
  const t = Date.now();
  try {
    await adapter.init();
    await adapter.reset();
    if (callsActivities(w) && !adapter.activities) {
      result = { value: NaN, na: true, note: 'no activities' };
    } else if (w.rows && !adapter.inserts) {
      result = { value: NaN, na: true, note: 'no row inserts' };
    } else if (w.input?.tx !== undefined && !adapter.transactional) {
      result = { value: NaN, na: true, note: 'no transactional steps' };
    } else if (w.kind === 'enqueue' || w.kind === 'enqueue-batch') {
      result = await runEnqueue(w, n, adapter, admin);
    } else if (w.kind === 'process' || w.kind === 'chain') {
      result = await runProcessOrChain(w, n, cap, adapter, admin, ctx);
    } else if (w.kind === 'latency') {
      result = await runLatency(w, n, cap, adapter, admin, ctx, spec.rep);
    } else if (
      (w.kind === 'signal' || w.kind === 'sleep') &&
      !adapter.signals
    ) {
      result = { value: NaN, na: true, note: 'no signals nor durable sleeps' };
    } else if (w.kind === 'signal') {
      result = await runSignal(w, n, cap, adapter, admin, ctx);
    } else if (w.kind === 'sleep') {
      result = await runSleep(w, n, cap, adapter, admin, ctx);
    } else if (
      (w.kind === 'fanout' || w.kind === 'child-latency') &&
      !adapter.children
    ) {
      result = { value: NaN, na: true, note: 'no child workflows' };
    } else if (w.kind === 'fanout') {
      result = await runFanout(w, n, cap, adapter, admin, ctx);
    } else if (w.kind === 'child-latency') {
      result = await runChildLatency(w, n, cap, adapter, admin, ctx);
    } else {
      throw new Error(`measure.mjs cannot run ${w.kind}`);
    }
  } catch (err) {
    console.error(`[${spec.system} ${spec.workload}] ${err?.stack || err}`);
    result = { value: NaN, error: String(err?.message || err) };
  }
  if (worker) {
    const { graceful } = await worker.stop();
    if (!graceful) result.workerKilled = true;
    if (worker.errors.length)
      result.workerErrors = worker.errors.map(
        (e) => `${e.where}: ${e.message.split('\n')[0]}`,
      );
  }
  try {
    await adapter.stop();
  } catch (err) {
    console.error(`[${spec.system}] producer stop(): ${err?.message || err}`);
  }
  await admin.end().catch(() => undefined);
  return {
    unit: w.unit,
    n,
    cap: w.kind === 'enqueue' || w.kind === 'enqueue-batch' ? undefined : cap,
    measureMs: Date.now() - t,
    ...result,
  };
}

main().then(
  (sample) => {
    if (process.send) {
      process.send({ type: 'sample', sample }, () => process.exit(0));
    } else {
      console.log(JSON.stringify(sample));
      process.exit(0);
    }
  },
  (err) => {
    console.error(err?.stack || err);
    if (process.send) {
      process.send(
        {
          type: 'sample',
          sample: { value: NaN, error: String(err?.message || err) },
        },
        () => process.exit(1),
      );
    } else {
      process.exit(1);
    }
  },
);
