// Underway (@underway/nestjs), from its compiled JS (run.mjs builds it with
// `tsc -p libs/underway/tsconfig.lib.json` first). A Nest application context per
// process: the producer with `runtime: false`, the worker with
// `runtime: { concurrency, pollInterval: '1s' }`.
//
// Three workflows are registered in both processes:
//   'bench'          one @Step `run`: calls the harness handler, Transition.complete()
//   'bench-chain'    three @Steps s1, s2, s3: each calls the handler; s1/s2 return
//                    Transition.next(result.next), s3 Transition.complete(). The next
//                    step is written by the same UPDATE that completes the current one.
//   'bench-activity' one @Step `run`: await ctx.call('noop') (an @Activity that does
//                    nothing), then the handler, Transition.complete(). The first
//                    execution suspends on the call; the handler runs in the replay.
//                    Inputs with `a` (the activity workloads) go to it.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import pg from 'pg';
import { REPO_ROOT } from '../lib/common.mjs';

const require = createRequire(join(REPO_ROOT, 'package.json'));
export const UNDERWAY_DIST = join(
  REPO_ROOT,
  'libs/underway/dist/libs/underway/src/index.js',
);
const SCHEMA = 'underway';
const HANDLER = 'BENCH_HANDLER';
const RESET_TABLES = [
  'workflow_run',
  'step_attempt',
  'concurrency_slot',
  'dead_letter',
  'activity_call',
  'activity_attempt',
];

let loaded;
function load() {
  if (!loaded) {
    if (!existsSync(UNDERWAY_DIST)) {
      throw new Error(
        `${UNDERWAY_DIST} is missing: build the library (npx tsc -p libs/underway/tsconfig.lib.json) or run without --no-build`,
      );
    }
    require('reflect-metadata');
    loaded = {
      lib: require(UNDERWAY_DIST),
      common: require('@nestjs/common'),
      core: require('@nestjs/core'),
    };
  }
  return loaded;
}

/** A fresh root module (fresh classes too: decorators are applied by calling them). */
function buildModule(url, runtime, holder) {
  const { lib, common } = load();
  const { UnderwayModule, Workflow, Step, Activity, Transition } = lib;
  const { Inject, Module } = common;
  const decorate = (decorator, cls, method) =>
    decorator(
      cls.prototype,
      method,
      Object.getOwnPropertyDescriptor(cls.prototype, method),
    );
  const step = (cls, method) => decorate(Step(), cls, method);
  const retry = { maxAttempts: 3, initialInterval: '100ms' };

  class BenchWorkflow {
    constructor(holder) {
      this.holder = holder;
    }
    async run(input) {
      await this.holder.handler(input);
      return Transition.complete();
    }
  }
  step(BenchWorkflow, 'run');
  Inject(HANDLER)(BenchWorkflow, undefined, 0);
  Workflow({ name: 'bench', retry })(BenchWorkflow);

  class BenchChainWorkflow {
    constructor(holder) {
      this.holder = holder;
    }
    async s1(input) {
      const result = await this.holder.handler(input);
      return Transition.next(result.next);
    }
    async s2(input) {
      const result = await this.holder.handler(input);
      return Transition.next(result.next);
    }
    async s3(input) {
      await this.holder.handler(input);
      return Transition.complete();
    }
  }
  step(BenchChainWorkflow, 's1');
  step(BenchChainWorkflow, 's2');
  step(BenchChainWorkflow, 's3');
  Inject(HANDLER)(BenchChainWorkflow, undefined, 0);
  Workflow({ name: 'bench-chain', retry })(BenchChainWorkflow);

  class BenchActivityWorkflow {
    constructor(holder) {
      this.holder = holder;
    }
    async noop() {}
    async run(input, ctx) {
      await ctx.call('noop');
      await this.holder.handler(input);
      return Transition.complete();
    }
  }
  decorate(Activity({ retry }), BenchActivityWorkflow, 'noop');
  step(BenchActivityWorkflow, 'run');
  Inject(HANDLER)(BenchActivityWorkflow, undefined, 0);
  Workflow({ name: 'bench-activity', retry })(BenchActivityWorkflow);

  class BenchModule {}
  Module({
    imports: [
      UnderwayModule.forRoot({
        dataSource: { type: 'postgres', url },
        schema: SCHEMA,
        runtime,
      }),
    ],
    providers: [
      { provide: HANDLER, useValue: holder },
      BenchWorkflow,
      BenchChainWorkflow,
      BenchActivityWorkflow,
    ],
  })(BenchModule);
  return BenchModule;
}

async function createApp(url, runtime, holder) {
  const { core } = load();
  return core.NestFactory.createApplicationContext(
    buildModule(url, runtime, holder),
    {
      logger: ['error', 'warn'],
      abortOnError: false,
    },
  );
}

const workflowOf = (input) =>
  input?.c !== undefined
    ? 'bench-chain'
    : input?.a !== undefined
      ? 'bench-activity'
      : 'bench';

function define(name, extraRuntime = {}, extraDescription = '') {
  return {
    name,
    peer: '@underway/nestjs',
    description:
      'underway: runtime.concurrency C, pollInterval 1s, LISTEN/NOTIFY wake-ups; batched claims (one statement for the free slots) and batched fenced completions; chain = native 3-step workflow (next step written atomically with the step completion)' +
      extraDescription,
    create(ctx) {
      const holder = {
        handler: async () => {
          throw new Error('bench handler not set (startWorker not called)');
        },
      };
      let app;
      let client;
      let housekeeping;
      return {
        // Runs the activity workloads: inputs with `a` await one ctx.call.
        activities: true,
        info() {
          let version = 'unknown';
          try {
            version = JSON.parse(
              readFileSync(
                join(REPO_ROOT, 'libs/underway/package.json'),
                'utf8',
              ),
            ).version;
          } catch {
            /* keep unknown */
          }
          return {
            package: '@underway/nestjs',
            version,
            settings: {
              module:
                "UnderwayModule.forRoot({ dataSource: { type: 'postgres', url }, schema: 'underway', runtime })",
              runtime: `producer: false; worker: { concurrency: C, pollInterval: '1s'${Object.entries(
                extraRuntime,
              )
                .map(([k, v]) => `, ${k}: ${v}`)
                .join('')} }`,
              concurrency:
                'runtime.concurrency = C steps running at once in the worker process',
              pool: 'library main pool of 10 connections (+1 heartbeat, +1 LISTEN in the worker)',
              claim:
                'one UPDATE … FOR UPDATE SKIP LOCKED claims up to the free slots',
              completion:
                'outcomes of finished steps committed in batches (≤500 per statement), each fenced',
              wake: 'LISTEN/NOTIFY (pg_notify in the enqueue statement) + 1 s poll',
              retry: { maxAttempts: 3, initialInterval: '100ms' },
              enqueue:
                "WorkflowClient.enqueue('bench' | 'bench-chain' | 'bench-activity', input)",
              enqueueBatch:
                'WorkflowClient.enqueueMany(name, inputs) (one INSERT … SELECT FROM unnest)',
              chain:
                "native 3-step workflow 'bench-chain' (@Step s1, s2, s3; Transition.next / complete)",
              activity:
                "'bench-activity': one @Step run: await ctx.call('noop') (a no-op @Activity, retry as above), then the handler, Transition.complete(); the first execution suspends on the call, the activity runs as its own claimed task, the step is replayed with its stored result",
              chainAtomic: true,
              chainAtomicHow:
                'the next step (step_index+1, its input, state pending) is written by the same fenced UPDATE that records the current step as succeeded',
              workerInit:
                'init() loads the library and boots/closes a runtime:false context (migrations); startWorker() boots the runtime context (timed as worker start-up)',
            },
          };
        },
        async init() {
          load();
          housekeeping = new pg.Pool({
            connectionString: ctx.connectionString,
            max: 1,
          });
          housekeeping.on('error', () => undefined);
          if (ctx.role === 'producer') {
            app = await createApp(ctx.connectionString, false, holder);
            client = app.get(load().lib.WorkflowClient);
          } else {
            // The worker starts claiming as soon as its context boots, so the runtime
            // context is created in startWorker(); here: migrate and warm up.
            const warm = await createApp(ctx.connectionString, false, holder);
            await warm.close();
          }
        },
        async reset() {
          // Runs and their history; the per-key and dead-letter tables too when the
          // schema has them (they hold nothing in these workloads).
          const { rows } = await housekeeping.query(
            `select array_agg(t) as tables from unnest($1::text[]) as t where to_regclass(t) is not null`,
            [RESET_TABLES.map((t) => `${SCHEMA}.${t}`)],
          );
          await housekeeping.query(`truncate ${rows[0].tables.join(', ')}`);
        },
        async outstanding() {
          // A chain between steps is a run in state pending/waiting: counted.
          const { rows } = await housekeeping.query(
            `select count(*)::int as n from ${SCHEMA}.workflow_run
             where state not in ('succeeded', 'failed', 'cancelled')`,
          );
          return rows[0].n;
        },
        async enqueue(input) {
          await client.enqueue(workflowOf(input), input);
        },
        async enqueueBatch(inputs) {
          if (inputs.length === 0) return;
          await client.enqueueMany(workflowOf(inputs[0]), inputs);
        },
        async startWorker({ concurrency, handler }) {
          holder.handler = handler;
          app = await createApp(
            ctx.connectionString,
            { concurrency, pollInterval: '1s', ...extraRuntime },
            holder,
          );
        },
        async stop() {
          if (app) {
            await app.close();
            app = undefined;
          }
          await housekeeping?.end();
          housekeeping = undefined;
        },
      };
    },
  };
}

export const systems = [
  define('underway'),
  // The batch settings, like graphile-batch's localQueue.size 500: claim up to
  // 500 runs ahead of the free slots, in one statement.
  define(
    'underway-batch',
    { prefetch: 500 },
    '; + runtime.prefetch 500 (up to 500 claimed runs wait locally for a slot)',
  ),
];
