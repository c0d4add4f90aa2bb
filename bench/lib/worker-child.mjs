// The worker process of a measurement (PROTOCOL.md §4 rule 1), forked by measure.mjs.
// Messages from the parent:
//   { type: 'init', systemName, ctx }            -> { type: 'ready' }
//   { type: 'start', kind, n, concurrency, phaseSize? }   (kind: process, chain, latency, fanout)
//                                                -> { type: 'started', t0, startedAt }
//       then, once, { type: 'handlersDone', at } when the handler has run for all N;
//       latency: { type: 'phaseDone', phase, at } once the handler has run for all
//       ids phase * phaseSize … (phase + 1) * phaseSize - 1 (phaseSize: default N)
//   { type: 'stats' }                            -> { type: 'stats', … }
//   { type: 'stop' }                             -> { type: 'stopped' }, then exit
// Timestamps are CLOCK_MONOTONIC µs, comparable with the parent's.
import { getSystem } from './adapter.mjs';
import { nowUs } from './common.mjs';

let adapter;
let book;
let cpu0;
let t0;

function send(msg) {
  if (process.connected) process.send(msg);
}

function fail(where, err) {
  send({ type: 'error', where, message: err?.stack || String(err) });
}

/** The no-op handler: bookkeeping only (rule 6). */
function makeHandler(kind, n, phaseSize = n) {
  const seen = new Uint8Array(
    kind === 'chain' ? n * 3 : kind === 'fanout' ? n + 1 : n,
  );
  book = {
    kind,
    n,
    handlerStarts: 0,
    distinct: 0,
    chainsCompleted: 0,
    warmups: 0,
    firstHandlerAt: null,
    handlersDoneAt: null,
    latUs: kind === 'latency' ? new Array(n).fill(null) : null,
    outOfRange: 0,
    fanout:
      kind === 'fanout'
        ? {
            firstChildAt: null,
            childrenDoneAt: null,
            parentFirstAt: null,
            parentResumedAt: null,
            outputsOk: null,
          }
        : undefined,
  };
  const done = () => {
    book.handlersDoneAt = nowUs();
    send({ type: 'handlersDone', at: book.handlersDoneAt });
  };
  if (kind === 'latency') {
    const perPhase = new Array(Math.ceil(n / phaseSize)).fill(0);
    return async (input) => {
      const now = nowUs();
      if (input && input.w !== undefined) {
        book.warmups += 1;
        return;
      }
      book.handlerStarts += 1;
      book.firstHandlerAt ??= now;
      const i = input?.i;
      if (!(i >= 0 && i < n)) {
        book.outOfRange += 1;
        return;
      }
      if (!seen[i]) {
        seen[i] = 1;
        // `at`: when the job's own clock read says it resumed (a parent's
        // ctx.child returned), else the handler's start.
        book.latUs[i] = (input.at ?? now) - input.t;
        book.distinct += 1;
        const phase = Math.floor(i / phaseSize);
        perPhase[phase] += 1;
        if (perPhase[phase] === Math.min(phaseSize, n - phase * phaseSize)) {
          send({ type: 'phaseDone', phase, at: now });
        }
        if (book.distinct === n) done();
      }
    };
  }
  if (kind === 'chain') {
    return async (input) => {
      const now = nowUs();
      book.handlerStarts += 1;
      book.firstHandlerAt ??= now;
      const { c, s } = input ?? {};
      const idx = c * 3 + (s - 1);
      if (!(idx >= 0 && idx < n * 3 && s >= 1 && s <= 3)) {
        book.outOfRange += 1;
        return undefined;
      }
      if (!seen[idx]) {
        seen[idx] = 1;
        book.distinct += 1;
        if (s === 3) {
          book.chainsCompleted += 1;
          if (book.chainsCompleted === n) done();
        }
      }
      return s < 3 ? { next: { c, s: s + 1 } } : undefined;
    };
  }
  if (kind === 'fanout') {
    // n children `{ k }` (ids 0..n-1) and their parent `{ parent: 1 }` (id n),
    // which runs the handler in its replay, once every child returned.
    const f = book.fanout;
    let children = 0;
    return async (input) => {
      const now = nowUs();
      if (input && input.w !== undefined) {
        if (input.parent) book.warmups += 1;
        return;
      }
      book.handlerStarts += 1;
      book.firstHandlerAt ??= now;
      let id;
      if (input?.parent) {
        id = n;
      } else {
        id = input?.k;
        if (!(id >= 0 && id < n)) {
          book.outOfRange += 1;
          return;
        }
        f.firstChildAt ??= now;
      }
      if (seen[id]) return;
      seen[id] = 1;
      book.distinct += 1;
      if (id === n) {
        f.parentResumedAt = input.at ?? now;
        f.parentFirstAt = input.firstAt ?? null;
        f.outputsOk = input.ok === true;
      } else if (++children === n) {
        f.childrenDoneAt = now;
      }
      if (book.distinct === n + 1) done();
    };
  }
  return async (input) => {
    const now = nowUs();
    book.handlerStarts += 1;
    book.firstHandlerAt ??= now;
    const i = input?.i;
    if (!(i >= 0 && i < n)) {
      book.outOfRange += 1;
      return;
    }
    if (!seen[i]) {
      seen[i] = 1;
      book.distinct += 1;
      if (book.distinct === n) done();
    }
  };
}

process.on('message', async (msg) => {
  try {
    switch (msg.type) {
      case 'init': {
        const def = await getSystem(msg.systemName);
        adapter = def.create({ ...msg.ctx, role: 'worker' });
        await adapter.init();
        send({ type: 'ready' });
        break;
      }
      case 'start': {
        const handler = makeHandler(msg.kind, msg.n, msg.phaseSize);
        cpu0 = process.cpuUsage();
        t0 = nowUs();
        await adapter.startWorker({ concurrency: msg.concurrency, handler });
        send({ type: 'started', t0, startedAt: nowUs() });
        break;
      }
      case 'stats': {
        const at = nowUs();
        const cpu = process.cpuUsage(cpu0);
        send({
          type: 'stats',
          at,
          cpuUs: cpu.user + cpu.system,
          wallUs: at - t0,
          handlerStarts: book?.handlerStarts ?? 0,
          distinct: book?.distinct ?? 0,
          duplicates: book
            ? book.handlerStarts - book.distinct - book.outOfRange
            : 0,
          outOfRange: book?.outOfRange ?? 0,
          chainsCompleted: book?.chainsCompleted ?? 0,
          warmups: book?.warmups ?? 0,
          firstHandlerAt: book?.firstHandlerAt ?? null,
          handlersDoneAt: book?.handlersDoneAt ?? null,
          latUs: msg.withLatencies ? book?.latUs : undefined,
          fanout: book?.fanout,
        });
        break;
      }
      case 'stop': {
        await adapter?.stop();
        send({ type: 'stopped' });
        setTimeout(() => process.exit(0), 20);
        break;
      }
      default:
        fail('message', new Error(`unknown message ${msg.type}`));
    }
  } catch (err) {
    fail(msg.type, err);
  }
});

process.on('disconnect', () => process.exit(0));
process.on('unhandledRejection', (err) => fail('unhandledRejection', err));
