// Registry of systems under test: every bench/peers/*.mjs exports `systems: SystemDef[]`
// (PROTOCOL.md §3). Adding a system is adding one file there.
//
// interface BenchAdapter {
//   info(): { package, version, settings }     // sync
//   init(): Promise<void>                       // connect, migrate, create queue; idempotent; untimed
//   reset(): Promise<void>                      // delete every job; untimed
//   outstanding(): Promise<number>              // jobs not yet durably terminal
//   enqueue(input): Promise<void>               // resolves when committed
//   enqueueBatch?(inputs): Promise<void>
//   startWorker({ concurrency, handler }): Promise<void>
//   stop(): Promise<void>
//   activities?: true                           // runs the activity workloads: an input with
//                                               // `a` is a one-step job whose step awaits one
//                                               // no-op activity call, then the handler
//                                               // (omit => those workloads report n/a)
//   signals?: true                              // runs the signal and sleep workloads: an input
//                                               // with `sig` is a one-step job whose step awaits
//                                               // a signal, then the handler with its payload's
//                                               // `t`; one with `sleep` sleeps that many ms first
//                                               // (enqueueBatch then resolves with the run ids)
//   waitingForSignal?(): Promise<number>        // jobs parked on their signal wait
//   signal?(id, payload): Promise<void>         // sends the signal, in a transaction of its own
//   children?: true                             // runs the child-workflow workloads: an input
//                                               // with `children: n` is a one-step parent whose
//                                               // step awaits n children (one-step runs that
//                                               // call the handler with `{ k }`, or with `lat`
//                                               // note when they return), then calls the
//                                               // handler with `{ parent: 1, at, firstAt, t, ok }`
// }
// SystemDef: { name, peer, description, database?, create(ctx) }
//   ctx = { connectionString, database, role: 'producer' | 'worker', systemName }
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCH_DIR } from './common.mjs';

const PEERS_DIR = join(BENCH_DIR, 'peers');

/** Preferred order in tables: the peers, then the system under test. */
const ORDER = [
  'graphile',
  'graphile-batch',
  'pgboss',
  'pgboss-batch',
  'underway',
];

export async function loadSystems() {
  const files = readdirSync(PEERS_DIR)
    .filter((f) => f.endsWith('.mjs'))
    .sort();
  const systems = [];
  for (const file of files) {
    const mod = await import(pathToFileURL(join(PEERS_DIR, file)).href);
    for (const def of mod.systems ?? []) {
      if (systems.some((s) => s.name === def.name)) {
        throw new Error(`duplicate system name "${def.name}" in peers/${file}`);
      }
      systems.push({ ...def, file });
    }
  }
  const rank = (n) => {
    const i = ORDER.indexOf(n);
    return i === -1 ? ORDER.length : i;
  };
  return systems.sort(
    (a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name),
  );
}

export async function getSystem(name) {
  const systems = await loadSystems();
  const def = systems.find((s) => s.name === name);
  if (!def) {
    throw new Error(
      `unknown system "${name}" (known: ${systems.map((s) => s.name).join(', ')})`,
    );
  }
  return def;
}

/** Systems whose peer is the library under test (they get the ratio column). */
export function isSubject(def) {
  return def.peer === '@underway/nestjs';
}
