// SPEC §5 "memory, 100k runs through one worker: flat after warm-up".
//
//   node --expose-gc bench/memory.mjs [--runs 100000] [--concurrency 10] [--prefetch 500]
//
// Enqueues the runs (batches of 1000), then processes them with one worker in
// this process, sampling the heap after a forced GC at every 10% of the runs.
// It reports heapUsed and RSS per decile and whether the heap stayed flat after
// warm-up: the last sample within 10% (or 5 MiB) of the 20% sample.
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { dbSuffix, dbUrl } from './lib/common.mjs';
import { prepareDatabases } from './lib/pgadmin.mjs';
import { systems } from './peers/underway.mjs';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '10' },
    prefetch: { type: 'string', default: '500' },
    'no-build': { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const concurrency = Number(values.concurrency);
const prefetch = Number(values.prefetch);
if (typeof global.gc !== 'function') {
  console.error('run with node --expose-gc bench/memory.mjs');
  process.exit(2);
}
if (!values['no-build']) {
  execFileSync('npx', ['tsc', '-p', 'libs/underway/tsconfig.lib.json'], {
    stdio: 'inherit',
  });
}

const system = systems.find((s) =>
  prefetch > 0 ? s.name === 'underway-batch' : s.name === 'underway',
);
const database = `bench_memory${dbSuffix()}`;
await prepareDatabases([database], { fresh: true });
const ctx = {
  connectionString: dbUrl(database),
  database,
  systemName: system.name,
};
const producer = system.create({ ...ctx, role: 'producer' });
await producer.init();
await producer.reset();
for (let i = 0; i < runs; i += 1000) {
  await producer.enqueueBatch(
    Array.from({ length: Math.min(1000, runs - i) }, (_, j) => ({ i: i + j })),
  );
}
await producer.stop();

const worker = system.create({ ...ctx, role: 'worker' });
await worker.init();
const samples = [];
let done = 0;
let nextSample = runs / 10;
let finish;
const finished = new Promise((resolve) => (finish = resolve));
const sample = () => {
  global.gc();
  const { heapUsed, rss } = process.memoryUsage();
  samples.push({ done, heapMiB: heapUsed / 2 ** 20, rssMiB: rss / 2 ** 20 });
};
const started = Date.now();
await worker.startWorker({
  concurrency,
  handler: async () => {
    done += 1;
    if (done >= nextSample) {
      nextSample += runs / 10;
      setImmediate(sample);
    }
    if (done === runs) {
      finish();
    }
  },
});
await finished;
while ((await worker.outstanding()) > 0) {
  await new Promise((r) => setTimeout(r, 50));
}
const elapsed = Date.now() - started;
await worker.stop();

console.log(
  `\n${runs} one-step runs through one worker (concurrency ${concurrency}, prefetch ${prefetch}) in ${(elapsed / 1000).toFixed(1)} s\n`,
);
console.log('| runs done | heapUsed after GC (MiB) | RSS (MiB) |');
console.log('|---:|---:|---:|');
for (const s of samples) {
  console.log(
    `| ${s.done} | ${s.heapMiB.toFixed(1)} | ${s.rssMiB.toFixed(1)} |`,
  );
}
const warm = samples[1] ?? samples[0];
const last = samples[samples.length - 1];
const growth = last.heapMiB - warm.heapMiB;
const flat = growth <= Math.max(5, warm.heapMiB * 0.1);
console.log(
  `\nheap after warm-up (20%): ${warm.heapMiB.toFixed(1)} MiB; at the end: ${last.heapMiB.toFixed(1)} MiB ` +
    `(${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MiB): ${flat ? 'flat' : 'NOT flat'}`,
);
process.exit(flat ? 0 : 1);
