// Underway (@underway/nestjs), from its compiled JS (run.mjs builds it with
// `tsc -p libs/underway/tsconfig.lib.json` first). A Nest application context per
// process: the producer with `runtime: false`, the worker with
// `runtime: { concurrency, pollInterval: '1s' }`.
//
// These workflows are registered in both processes:
//   'bench'          one @Step `run`: calls the harness handler, Transition.complete()
//   'bench-chain'    three @Steps s1, s2, s3: each calls the handler; s1/s2 return
//                    Transition.next(result.next), s3 Transition.complete(). The next
//                    step is written by the same UPDATE that completes the current one.
//   'bench-activity' one @Step `run`: await ctx.call('noop') (an @Activity that does
//                    nothing), then the handler, Transition.complete(). The first
//                    execution suspends on the call; the handler runs in the replay.
//                    Inputs with `a` (the activity workloads) go to it.
//   'bench-insert'   one @Step `run`: inserts its row (ROW_INSERT) through the app's
//                    DataSource (autocommit), then the handler, Transition.complete().
//   'bench-insert-tx' the same as a @Step({ transactional: true }): the insert goes
//                    through ctx.manager, and the row commits with the step's outcome.
//                    Inputs with `r` (the insert workloads) go to these two (`tx`: the
//                    transactional one).
//   'bench-signal'   one @Step `run`: await ctx.waitFor(BenchSignal, { timeout: '1h' })
//                    (the first execution suspends: the run is waiting, no slot held),
//                    then the handler with the signal payload's `t` (the clock read
//                    just before the send), Transition.complete(). Inputs with `sig`.
//   'bench-sleep'    one @Step `run`: await ctx.sleep(input.sleep) (ms), then the
//                    handler with `t` = when the first execution reached the sleep
//                    (kept in this process, by run id), Transition.complete().
//                    Inputs with `sleep` (the sleep workload).
//   'bench-parent'   one @Step `run`: await Promise.all(of input.children ctx.child(
//                    'bench-child', { k, of: runId })) (the first execution enqueues
//                    the children with its suspension), then the handler with when
//                    the replay got the outputs, Transition.complete(). Inputs with
//                    `children` (the child-workflow workloads).
//   'bench-child'    one @Step `run`: the handler with `{ k }` (or, with `lat`, the
//                    clock read just before it returns, kept in this process by its
//                    parent's run id), Transition.complete({ k }).
//
// The app's DataSource: each process creates and initializes a TypeORM DataSource
// (pool of 10) in init(), gives the instance to UnderwayModule.forRoot({ dataSource })
// (transactional steps need the instance; Underway's own pools are configured from its
// options as before) and provides it to the workflows, as an app would.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import pg from 'pg';
import { REPO_ROOT, ROW_INSERT, nowUs } from '../lib/common.mjs';

const require = createRequire(join(REPO_ROOT, 'package.json'));
export const UNDERWAY_DIST = join(
  REPO_ROOT,
  'libs/underway/dist/libs/underway/src/index.js',
);
const SCHEMA = 'underway';
const HANDLER = 'BENCH_HANDLER';
/** The app's DataSource pool (TypeORM `poolSize`, pg's default). */
const APP_POOL_SIZE = 10;
const RESET_TABLES = [
  'workflow_run',
  'step_attempt',
  'concurrency_slot',
  'dead_letter',
  'activity_call',
  'activity_attempt',
  'signal',
];
/** The signal the 'bench-signal' runs wait for; its payload is `{ t }`. */
const SIGNAL_NAME = 'bench-go';

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
      typeorm: require('typeorm'),
    };
    loaded.signal = loaded.lib.defineSignal(SIGNAL_NAME);
  }
  return loaded;
}

/** A fresh root module (fresh classes too: decorators are applied by calling them). */
function buildModule(dataSource, runtime, holder) {
  const { lib, common, typeorm } = load();
  const { UnderwayModule, Workflow, Step, Activity, Transition } = lib;
  const { Inject, Module } = common;
  const decorate = (decorator, cls, method) =>
    decorator(
      cls.prototype,
      method,
      Object.getOwnPropertyDescriptor(cls.prototype, method),
    );
  const step = (cls, method, options) => decorate(Step(options), cls, method);
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

  // The insert workloads: the step's own row, then the handler.
  class BenchInsertWorkflow {
    constructor(holder, dataSource) {
      this.holder = holder;
      this.dataSource = dataSource;
    }
    async run(input) {
      await this.dataSource.query(ROW_INSERT, [input.i]);
      await this.holder.handler(input);
      return Transition.complete();
    }
  }
  step(BenchInsertWorkflow, 'run');
  Inject(HANDLER)(BenchInsertWorkflow, undefined, 0);
  Inject(typeorm.DataSource)(BenchInsertWorkflow, undefined, 1);
  Workflow({ name: 'bench-insert', retry })(BenchInsertWorkflow);

  class BenchInsertTxWorkflow {
    constructor(holder) {
      this.holder = holder;
    }
    async run(input, ctx) {
      await ctx.manager.query(ROW_INSERT, [input.i]);
      await this.holder.handler(input);
      return Transition.complete(); // commits with the row
    }
  }
  step(BenchInsertTxWorkflow, 'run', { transactional: true });
  Inject(HANDLER)(BenchInsertTxWorkflow, undefined, 0);
  Workflow({ name: 'bench-insert-tx', retry })(BenchInsertTxWorkflow);

  // The signal workloads: the step waits for one signal, whose payload
  // carries the sender's clock read `t` (CLOCK_MONOTONIC µs, comparable
  // across processes), and the handler starts right after the wait returned.
  const { signal } = load();
  class BenchSignalWorkflow {
    constructor(holder) {
      this.holder = holder;
    }
    async run(input, ctx) {
      const payload = await ctx.waitFor(signal, { timeout: '1h' });
      await this.holder.handler({ ...input, t: payload?.t });
      return Transition.complete();
    }
  }
  step(BenchSignalWorkflow, 'run');
  Inject(HANDLER)(BenchSignalWorkflow, undefined, 0);
  Workflow({ name: 'bench-signal', retry })(BenchSignalWorkflow);

  // The sleep workload: `t` is when the first execution reached the sleep
  // (the replay runs the step from the top again: the first reading stays).
  class BenchSleepWorkflow {
    constructor(holder) {
      this.holder = holder;
    }
    async run(input, ctx) {
      if (!this.holder.sleptAt.has(ctx.runId)) {
        this.holder.sleptAt.set(ctx.runId, nowUs());
      }
      await ctx.sleep(input.sleep);
      const t = this.holder.sleptAt.get(ctx.runId);
      this.holder.sleptAt.delete(ctx.runId);
      await this.holder.handler({ ...input, t });
      return Transition.complete();
    }
  }
  step(BenchSleepWorkflow, 'run');
  Inject(HANDLER)(BenchSleepWorkflow, undefined, 0);
  Workflow({ name: 'bench-sleep', retry })(BenchSleepWorkflow);

  // The child-workflow workloads. A child: one step that calls the handler
  // with its `{ k }` (children-fanout), or, with `lat` (children-latency),
  // notes when it returns, by its parent's run id, just before returning.
  class BenchChildWorkflow {
    constructor(holder) {
      this.holder = holder;
    }
    async run(input) {
      if (input.lat === undefined) {
        await this.holder.handler(input);
      } else {
        this.holder.childReturnedAt.set(input.of, nowUs());
      }
      return Transition.complete({ k: input.k });
    }
  }
  step(BenchChildWorkflow, 'run');
  Inject(HANDLER)(BenchChildWorkflow, undefined, 0);
  Workflow({ name: 'bench-child', retry })(BenchChildWorkflow);

  // A parent: one step awaiting `children` ctx.child() of 'bench-child' under
  // Promise.all (enqueued together, with the step's suspension). Its first
  // execution suspends there; its replay gets every output at once, notes
  // when (`at`), and calls the handler with `firstAt` (when the first
  // execution started, kept in this process by run id) and, for one child
  // with `lat`, `t` = when that child's step returned.
  class BenchParentWorkflow {
    constructor(holder) {
      this.holder = holder;
    }
    async run(input, ctx) {
      const { holder } = this;
      const id = ctx.runId;
      if (!holder.firstRanAt.has(id)) holder.firstRanAt.set(id, nowUs());
      const base = { of: id };
      if (input.w !== undefined) base.w = input.w;
      if (input.lat !== undefined) base.lat = input.lat;
      const outputs = await Promise.all(
        Array.from({ length: input.children }, (_, k) =>
          ctx.child('bench-child', { k, ...base }),
        ),
      );
      const at = nowUs();
      const firstAt = holder.firstRanAt.get(id);
      const t = holder.childReturnedAt.get(id);
      holder.firstRanAt.delete(id);
      holder.childReturnedAt.delete(id);
      await holder.handler({
        ...input,
        parent: 1,
        at,
        firstAt,
        t,
        ok:
          outputs.length === input.children &&
          outputs.every((o, k) => o?.k === k),
      });
      return Transition.complete();
    }
  }
  step(BenchParentWorkflow, 'run');
  Inject(HANDLER)(BenchParentWorkflow, undefined, 0);
  Workflow({ name: 'bench-parent', retry })(BenchParentWorkflow);

  class BenchModule {}
  Module({
    imports: [
      UnderwayModule.forRoot({
        dataSource,
        schema: SCHEMA,
        runtime,
      }),
    ],
    providers: [
      { provide: HANDLER, useValue: holder },
      { provide: typeorm.DataSource, useValue: dataSource },
      BenchWorkflow,
      BenchChainWorkflow,
      BenchActivityWorkflow,
      BenchInsertWorkflow,
      BenchInsertTxWorkflow,
      BenchSignalWorkflow,
      BenchSleepWorkflow,
      BenchChildWorkflow,
      BenchParentWorkflow,
    ],
  })(BenchModule);
  return BenchModule;
}

async function createApp(dataSource, runtime, holder) {
  const { core } = load();
  return core.NestFactory.createApplicationContext(
    buildModule(dataSource, runtime, holder),
    {
      logger: ['error', 'warn'],
      abortOnError: false,
    },
  );
}

function workflowOf(input) {
  if (input?.children !== undefined) return 'bench-parent';
  if (input?.c !== undefined) return 'bench-chain';
  if (input?.a !== undefined) return 'bench-activity';
  if (input?.r !== undefined)
    return input.tx !== undefined ? 'bench-insert-tx' : 'bench-insert';
  if (input?.sig !== undefined) return 'bench-signal';
  if (input?.sleep !== undefined) return 'bench-sleep';
  return 'bench';
}

function define(name, extraRuntime = {}, extraDescription = '') {
  return {
    name,
    peer: '@underway/nestjs',
    description:
      "underway: runtime.concurrency C, pollInterval 1s, LISTEN/NOTIFY wake-ups; the default runtime.prefetch 'auto' (claims ahead what the worker starts in ~50 ms at its pace, up to 1,000) and batched fenced completions; chain = native 3-step workflow (next step written atomically with the step completion)" +
      extraDescription,
    create(ctx) {
      const holder = {
        handler: async () => {
          throw new Error('bench handler not set (startWorker not called)');
        },
        /** 'bench-sleep': run id -> when its first execution reached the sleep. */
        sleptAt: new Map(),
        /** 'bench-parent': run id -> when its first execution started. */
        firstRanAt: new Map(),
        /** 'bench-child' with `lat`: parent run id -> when the child's step returned. */
        childReturnedAt: new Map(),
      };
      let app;
      let client;
      let housekeeping;
      let dataSource;
      return {
        // Runs the activity workloads: inputs with `a` await one ctx.call.
        activities: true,
        // Runs the insert workloads: inputs with `r` insert their row; with
        // `tx` in a transactional step.
        inserts: true,
        transactional: true,
        // Runs the signal and sleep workloads: inputs with `sig` wait for a
        // signal (enqueueBatch resolves with their run ids, `signal()` sends
        // one), inputs with `sleep` sleep that many ms.
        signals: true,
        // Runs the child-workflow workloads: inputs with `children` are
        // parents awaiting that many children.
        children: true,
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
                "UnderwayModule.forRoot({ dataSource, schema: 'underway', runtime }), dataSource = the app's TypeORM DataSource instance ({ type: 'postgres', url, poolSize: 10 }, initialized in init())",
              runtime: `producer: false; worker: { concurrency: C, pollInterval: '1s'${Object.entries(
                extraRuntime,
              )
                .map(([k, v]) => `, ${k}: ${v}`)
                .join('')} }`,
              concurrency:
                'runtime.concurrency = C steps running at once in the worker process',
              pool: "library main pool of 10 connections (+1 heartbeat, +1 LISTEN in the worker); the app's DataSource has its own pool of 10 (used by the insert workloads only)",
              claim:
                'one UPDATE … FOR UPDATE SKIP LOCKED claims up to the free slots',
              completion:
                'outcomes of finished steps committed in batches (≤500 per statement), each fenced',
              wake: 'LISTEN/NOTIFY (pg_notify in the enqueue statement) + 1 s poll',
              retry: { maxAttempts: 3, initialInterval: '100ms' },
              enqueue:
                "WorkflowClient.enqueue('bench' | 'bench-chain' | 'bench-activity' | 'bench-insert' | 'bench-insert-tx' | 'bench-signal' | 'bench-sleep' | 'bench-parent', input)",
              enqueueBatch:
                'WorkflowClient.enqueueMany(name, inputs) (one INSERT … SELECT FROM unnest)',
              chain:
                "native 3-step workflow 'bench-chain' (@Step s1, s2, s3; Transition.next / complete)",
              activity:
                "'bench-activity': one @Step run: await ctx.call('noop') (a no-op @Activity, retry as above), then the handler, Transition.complete(); the first execution suspends on the call, the activity runs as its own claimed task, the step is replayed with its stored result",
              insert:
                "'bench-insert': one @Step run: await dataSource.query(ROW_INSERT, [i]) on the app's DataSource (autocommit), then the handler, Transition.complete() (the outcome commits afterwards, batched: not atomic)",
              insertTx:
                "'bench-insert-tx': one @Step({ transactional: true }) run: await ctx.manager.query(ROW_INSERT, [i]), then the handler, Transition.complete(); the row and the fenced outcome commit in one transaction on the app's DataSource (one connection of its pool held per running step)",
              signal: `'bench-signal': one @Step run: await ctx.waitFor(defineSignal('${SIGNAL_NAME}'), { timeout: '1h' }) (the first execution suspends, the run waits without a slot), then the handler, Transition.complete(); sent with dataSource.transaction((manager) => client.signal(runId, signal, { t }, { manager })), which wakes the run in the same statement`,
              sleep:
                "'bench-sleep': one @Step run: await ctx.sleep(ms) (a durable sleep: the step suspends, the worker ends the sleep at its deadline and replays the step), then the handler, Transition.complete()",
              children:
                "'bench-parent': one @Step run: await Promise.all(of `children` x ctx.child('bench-child', { k, of: runId })) (the first execution suspends: the children are enqueued by the statement that commits the suspension; the end of each child settles its entry in the parent, and the last one wakes it), then the handler, Transition.complete(); 'bench-child': one @Step run: the handler (or, for children-latency, the clock read just before it returns), Transition.complete({ k })",
              chainAtomic: true,
              chainAtomicHow:
                'the next step (step_index+1, its input, state pending) is written by the same fenced UPDATE that records the current step as succeeded',
              workerInit:
                'init() loads the library and boots/closes a runtime:false context (migrations); startWorker() boots the runtime context (timed as worker start-up)',
            },
          };
        },
        async init() {
          const { typeorm } = load();
          dataSource = new typeorm.DataSource({
            type: 'postgres',
            url: ctx.connectionString,
            poolSize: APP_POOL_SIZE,
          });
          await dataSource.initialize();
          housekeeping = new pg.Pool({
            connectionString: ctx.connectionString,
            max: 1,
          });
          housekeeping.on('error', () => undefined);
          if (ctx.role === 'producer') {
            app = await createApp(dataSource, false, holder);
            client = app.get(load().lib.WorkflowClient);
          } else {
            // The worker starts claiming as soon as its context boots, so the runtime
            // context is created in startWorker(); here: migrate and warm up.
            const warm = await createApp(dataSource, false, holder);
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
        /** Resolves with the runs' ids (the signal workloads send to them). */
        async enqueueBatch(inputs) {
          if (inputs.length === 0) return [];
          const runs = await client.enqueueMany(workflowOf(inputs[0]), inputs);
          return runs.map((run) => run.id);
        },
        /** Runs parked on a signal wait (the suspension committed). */
        async waitingForSignal() {
          const { rows } = await housekeeping.query(
            `select count(*)::int as n from ${SCHEMA}.activity_call
             where kind = 'wait' and state = 'waiting'`,
          );
          return rows[0].n;
        },
        /**
         * Sends the bench signal to a run in a transaction of the app's
         * DataSource, as an app would (with its own writes beside it).
         */
        async signal(runId, payload) {
          await dataSource.transaction((manager) =>
            client.signal(runId, load().signal, payload, { manager }),
          );
        },
        async startWorker({ concurrency, handler }) {
          holder.handler = handler;
          app = await createApp(
            dataSource,
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
          if (dataSource?.isInitialized) await dataSource.destroy();
          dataSource = undefined;
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
