import { randomUUID } from 'node:crypto';
import { ActivityCallRepository } from '../engine/activity-call.repository';
import {
  RECORDED_CALLS_CACHE_BYTES,
  RecordedCallsCache,
} from '../execution/recorded-calls.cache';
import { RecordedCallsLoader } from '../execution/recorded-calls.loader';
import { NotificationListener } from '../database/notification.listener';
import { PoolExecutor, SqlExecutor } from '../database/sql-executor';
import type { ClaimScope } from '../model/claim-scope';
import { UnderwayDatabase } from '../database/underway-database';
import { WorkflowRegistry } from '../discovery/workflow.registry';
import type {
  ResolvedOptions,
  ResolvedRuntimeOptions,
} from '../options/resolved-options';
import { TransitionWriter } from '../engine/transition.writer';
import { AttemptPipeline } from '../execution/attempt-pipeline';
import { CallKind } from '../execution/call.handler';
import { StepKind } from '../execution/step.handler';
import { InterceptorChain } from '../events/interceptor-chain';
import { UnderwayEvents } from '../events/underway-events';
import { QueueSampler } from '../observability/queue.sampler';
import { UnderwayMetrics } from '../observability/underway-metrics';
import { TaskRepository } from '../engine/task.repository';
import { ClaimLoop } from './claim.loop';
import { LeaseKeeper } from './lease.keeper';
import { LeaseRescuer } from './lease.rescuer';
import { Scheduler } from '../schedule/scheduler';
import { parseWakeSignal } from '../model/wake-signal';
import { cancelBackend } from '../execution/transaction.sql';
import { transactionOpener } from '../execution/attempt-transaction';
import { MaintenanceLoop } from './maintenance.loop';
import { OutcomeBatcher } from './outcome.batcher';
import { AttemptAnnouncer } from './attempt-announcer';
import { AttemptRunner } from './attempt.runner';
import { OutcomeCommitter } from './outcome-committer';
import { WaitingMark } from './waiting-mark';
import { WaitExpirer } from './wait-expirer';

/** Children of failed runs cancelled per sweep, at most (the next sweep goes on). */
const ORPHANS_PER_SWEEP = 100;

/** What the worker is built from: the module's providers. */
export interface WorkerDependencies {
  readonly options: ResolvedOptions;
  readonly registry: WorkflowRegistry;
  readonly database: UnderwayDatabase;
  readonly metrics: UnderwayMetrics;
  readonly events: UnderwayEvents;
  readonly interceptors: InterceptorChain;
  readonly writer: TransitionWriter;
}

/** A worker: what its lifecycle stops, in order. */
export interface RunningWorker {
  readonly claimLoop: ClaimLoop;
  readonly runner: AttemptRunner;
  readonly outcomes: OutcomeBatcher;
  readonly leases: LeaseKeeper;
  readonly listener: NotificationListener;
  readonly maintenance: MaintenanceLoop;
  readonly scheduler: Scheduler;
  readonly waiting: WaitingMark;
  readonly waits: WaitExpirer;
}

/** The shortest lease of any step or activity this worker runs. */
function shortestLeaseMs(
  registry: WorkflowRegistry,
  workflows: readonly string[],
): number {
  let shortest = Infinity;
  for (const definition of registry.definitionsOf(workflows)) {
    for (const task of [
      ...definition.steps,
      ...definition.activities.values(),
    ]) {
      shortest = Math.min(shortest, task.policy.leaseMs);
    }
  }
  return shortest;
}

/** A worker built, not started, and what its claims are made with. */
export interface BuiltWorker extends RunningWorker {
  /** What it claims: the versions and steps of its workflows. */
  readonly scope: ClaimScope;
  /** Its statements' executor: the library's pool, autocommit. */
  readonly executor: SqlExecutor;
}

/**
 * Builds and starts this process's worker (see {@link buildWorker}). The
 * composition root; `WorkerService` owns the lifecycle.
 */
export function assembleWorker(
  deps: WorkerDependencies,
  runtime: ResolvedRuntimeOptions,
  workflows: string[],
): RunningWorker {
  const worker = buildWorker(deps, runtime, workflows);
  worker.listener.start();
  worker.claimLoop.start();
  worker.maintenance.start();
  worker.scheduler.start();
  return worker;
}

/**
 * Builds this process's worker without starting anything: the claim loop,
 * the runner and its attempt pipeline, the lease keeper and rescuer, the
 * outcome batcher, the listener and its wake-up protocol, maintenance and
 * the scheduler, each given only what it uses. The manual runtime
 * (`runtime: 'manual'`) drives the same parts from a test instead of
 * starting their loops.
 */
export function buildWorker(
  deps: WorkerDependencies,
  runtime: ResolvedRuntimeOptions,
  workflows: string[],
): BuiltWorker {
  const { options, registry, database, metrics, events, interceptors, writer } =
    deps;
  const { schema, instanceName, reconnectBackoff } = options;
  const queue = new TaskRepository(schema);
  const calls = new ActivityCallRepository(schema);
  const transactions = transactionOpener(
    () => database.appDataSource(),
    async (pid) => {
      await executor.query(cancelBackend(pid));
    },
    (claim, backend) => leases.watch(claim, backend),
  );
  const executor = new PoolExecutor(database.pool);
  const scope = registry.scopeOf(workflows);
  const recordedCalls = new RecordedCallsLoader(
    (keys) => calls.recorded(executor, keys),
    new RecordedCallsCache(RECORDED_CALLS_CACHE_BYTES),
  );
  const leases = new LeaseKeeper(
    queue,
    database.heartbeat,
    database.bounds('heartbeat').clientMs,
  );
  const outcomes = new OutcomeBatcher(
    writer,
    database.pool,
    instanceName,
    reconnectBackoff,
  );
  const waits = new WaitExpirer(writer, executor, scope);
  const waiting = new WaitingMark(
    executor,
    schema,
    `${instanceName}/${randomUUID()}`,
    () => listener.backendPid,
    runtime.pollIntervalMs,
  );
  const claimLoop: ClaimLoop = new ClaimLoop({
    concurrency: runtime.concurrency,
    prefetch: runtime.prefetch,
    adaptivePrefetch: runtime.adaptivePrefetch,
    shortestLeaseMs: shortestLeaseMs(registry, workflows),
    pollIntervalMs: runtime.pollIntervalMs,
    backoff: reconnectBackoff,
    claim: async (limit) => {
      const { claims, waitsDue } = await writer.claim(
        executor,
        scope,
        limit,
        instanceName,
      );
      if (waitsDue) {
        waits.soon();
      }
      return claims;
    },
    onClaimed: (run, claimSentAt) => runner.hold(run, claimSentAt),
    runStep: (run, stepDone): Promise<void> => runner.run(run, stepDone),
    stillHeld: (run) => leases.mayHold(run),
    dropped: (run) => runner.drop(run),
    sweep: async () => {
      await rescuer.sweep();
      await waits.pass();
      // The children of runs that failed (a cancel takes its tree at once).
      await writer.cancelOrphans(executor, ORPHANS_PER_SWEEP);
    },
    idle: waiting,
  });
  const rescuer = new LeaseRescuer(
    queue,
    executor,
    writer,
    events,
    registry,
    options.defaults.retry,
    claimLoop,
    instanceName,
  );
  const runner: AttemptRunner = new AttemptRunner(
    new AttemptPipeline(
      new StepKind(registry, options.maxInputSizeBytes, recordedCalls),
      new CallKind(registry, options.maxInputSizeBytes),
      transactions,
    ),
    new OutcomeCommitter(outcomes, (on, entries) =>
      writer.commit(on, entries, instanceName),
    ),
    leases,
    new AttemptAnnouncer(events, interceptors),
    interceptors,
    claimLoop,
  );
  const listener = new NotificationListener(
    () => database.createClient('listen'),
    schema,
    (payload) => {
      const signal = parseWakeSignal(payload);
      switch (signal.kind) {
        case 'cancel':
          runner.cancel(signal.runId);
          return;
        case 'schedules':
          scheduler.rearm();
          return;
        case 'claim':
          if (signal.inMs > 0) {
            claimLoop.wakeIn(signal.inMs);
          } else {
            claimLoop.claimSoon();
          }
          return;
      }
    },
    () => {
      // Anything may have been missed while the listener was away, and the
      // waiting mark names the old connection.
      waiting.reset();
      claimLoop.claimSoon();
      scheduler.rearm();
      if (events.has('listener:connected')) {
        events.emit('listener:connected', {});
      }
    },
    (error) => {
      if (events.has('listener:lost')) {
        events.emit('listener:lost', { error });
      }
    },
    reconnectBackoff,
    database.bounds('listen').serverMs,
  );
  const sampler = new QueueSampler(metrics, schema, workflows);
  const maintenance = new MaintenanceLoop(
    database.maintenance,
    schema,
    workflows,
    runtime.maintenanceIntervalMs,
    Math.max(runtime.pollIntervalMs * 5, 1_000),
    (on) => sampler.sample(on),
    writer,
    {
      scope,
      steps: registry.stepNamesOf(workflows),
      graceMs: runtime.unknownStepGraceMs,
      worker: { id: `${instanceName}/${randomUUID()}`, instance: instanceName },
      registered: registry.definitionsOf(workflows),
    },
  );
  const scheduler = new Scheduler(
    database.pool,
    schema,
    registry,
    workflows,
    reconnectBackoff,
    writer,
    events,
  );
  return {
    scope,
    executor,
    claimLoop,
    runner,
    outcomes,
    leases,
    listener,
    maintenance,
    scheduler,
    waiting,
    waits,
  };
}
