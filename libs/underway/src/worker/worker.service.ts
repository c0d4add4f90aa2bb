import { randomUUID } from 'node:crypto';
import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { ActivityCallRepository } from '../engine/activity-call.repository';
import {
  RECORDED_CALLS_CACHE_BYTES,
  RecordedCallsCache,
} from '../execution/recorded-calls.cache';
import { RecordedCallsLoader } from '../execution/recorded-calls.loader';
import { NotificationListener } from '../database/notification.listener';
import { PoolExecutor } from '../database/sql-executor';
import { UnderwayDatabase } from '../database/underway-database';
import { WorkflowRegistry } from '../discovery/workflow.registry';
import { StepAbortedError } from '../errors/step-aborted.error';
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
import { UNDERWAY_OPTIONS } from '../underway.constants';
import { UnderwayBootstrap } from '../underway.bootstrap';
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

/** After the drain timeout, how long aborted steps get to give their claims back. */
const ABORT_GRACE_MS = 5_000;
/** The least time step outcomes get to commit at shutdown, even past `shutdownTimeout`. */
const OUTCOME_GRACE_MS = 1_000;

/** What the health indicator reads of this process's worker. */
export interface WorkerStatus {
  /**
   * `disabled`: `runtime: false`; `idle`: no workflow to run here;
   * `starting`: not started yet (the database was down at boot);
   * `stopped`: shut down.
   */
  readonly state: 'disabled' | 'idle' | 'starting' | 'running' | 'stopped';
}

interface RunningWorker {
  readonly claimLoop: ClaimLoop;
  readonly runner: AttemptRunner;
  readonly outcomes: OutcomeBatcher;
  readonly leases: LeaseKeeper;
  readonly listener: NotificationListener;
  readonly maintenance: MaintenanceLoop;
  readonly scheduler: Scheduler;
  readonly waiting: WaitingMark;
}

/**
 * Lifecycle of this process's worker: starts on `onApplicationBootstrap`,
 * stops claiming on `onModuleDestroy`, and on `beforeApplicationShutdown`
 * lets in-flight steps finish (up to `shutdownTimeout`), then aborts the rest
 * through `ctx.signal` and gives their claims back without counting an attempt.
 */
@Injectable()
export class WorkerService
  implements OnApplicationBootstrap, OnModuleDestroy, BeforeApplicationShutdown
{
  private readonly logger = new Logger(WorkerService.name);
  private worker: RunningWorker | undefined;
  private stopping = false;
  private releasing: Promise<void> | undefined;

  constructor(
    @Inject(UNDERWAY_OPTIONS) private readonly options: ResolvedOptions,
    private readonly registry: WorkflowRegistry,
    private readonly database: UnderwayDatabase,
    private readonly bootstrap: UnderwayBootstrap,
    private readonly metrics: UnderwayMetrics,
    private readonly events: UnderwayEvents,
    private readonly interceptors: InterceptorChain,
    private readonly writer: TransitionWriter,
  ) {}

  status(): WorkerStatus {
    const runtime = this.options.runtime;
    if (this.worker) {
      return { state: 'running' };
    }
    const state =
      runtime === false
        ? 'disabled'
        : this.registry.namesToRun(runtime.workflows).length === 0
          ? 'idle'
          : this.stopping
            ? 'stopped'
            : 'starting';
    return { state };
  }

  onApplicationBootstrap(): void {
    const runtime = this.options.runtime;
    if (runtime === false) {
      return;
    }
    const workflows = this.registry.namesToRun(runtime.workflows);
    if (workflows.some((name) => this.registry.find(name)?.transactional)) {
      this.database.appDataSource(); // fails the boot without a DataSource
    }
    if (workflows.length === 0) {
      this.logger.log('No workflow to run: the worker stays idle');
      return;
    }
    const start = (): void => {
      if (this.stopping) {
        return;
      }
      this.worker = this.startWorker(runtime, workflows);
      this.logger.log(
        `Worker started: concurrency=${runtime.concurrency}, schema="${this.options.schema}", ` +
          `${workflows.length} workflow${workflows.length === 1 ? '' : 's'} (${workflows.join(', ')})`,
      );
    };
    // Usually ready already; after a boot with the database down, start once
    // it is back. `ready` never rejects unhandled (a boot that cannot succeed
    // is logged by UnderwayBootstrap), and shutdown checks `stopping`.
    void this.bootstrap.ready.then(start, () => undefined);
  }

  onModuleDestroy(): void {
    this.stopping = true;
    const worker = this.worker;
    if (worker) {
      // No new fires: a tick not fired here is fired by another instance,
      // or once this one starts again.
      void worker.scheduler.stop();
      // Stop claiming at once. The runs claimed ahead go back through the
      // outcome queue, whose drain beforeApplicationShutdown bounds: not
      // awaited here, where a database outage would hold the shutdown.
      this.releasing = worker.claimLoop
        .stop()
        .then((queued) => worker.runner.release(queued));
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    const worker = this.worker;
    if (!worker) {
      return;
    }
    this.worker = undefined;
    const { shutdownTimeoutMs } = this.options;
    const deadline = Date.now() + shutdownTimeoutMs;
    const released = Promise.all([
      this.releasing,
      worker.claimLoop.stop().then((queued) => worker.runner.release(queued)),
    ]);
    const inFlight = worker.claimLoop.running;
    if (!(await worker.claimLoop.drain(shutdownTimeoutMs))) {
      this.logger.warn(
        `${worker.claimLoop.running} step(s) still running after ${shutdownTimeoutMs}ms; aborting them`,
      );
      worker.runner.abortAll(new StepAbortedError('shutdown'));
      if (!(await worker.claimLoop.drain(ABORT_GRACE_MS))) {
        worker.outcomes.abandon();
      }
    }
    // Outcomes of finished steps and claims given back, committed while the
    // database lets us: past the deadline, they are given up (their leases
    // lapse, and the steps run again elsewhere: at-least-once).
    const outcomeWaitMs = Math.max(deadline - Date.now(), OUTCOME_GRACE_MS);
    if (!(await worker.outcomes.drain(outcomeWaitMs))) {
      this.logger.warn(
        `${worker.outcomes.pending} step outcome(s) still not committed at shutdown (is the database reachable?); ` +
          'giving up on them: their runs are taken back once their leases lapse',
      );
      worker.outcomes.abandon();
      await worker.outcomes.drain();
    }
    await released;
    await worker.scheduler.stop();
    await worker.leases.stop();
    await worker.maintenance.stop();
    await worker.waiting.forget();
    await worker.listener.stop();
    this.logger.log(
      `Worker stopped${inFlight ? ` (${inFlight} step(s) were in flight)` : ''}`,
    );
  }

  /** The shortest lease of any step or activity this worker runs. */
  private shortestLeaseMs(workflows: readonly string[]): number {
    let shortest = Infinity;
    for (const name of workflows) {
      const definition = this.registry.find(name);
      for (const task of [
        ...(definition?.steps ?? []),
        ...(definition?.activities.values() ?? []),
      ]) {
        shortest = Math.min(shortest, task.policy.leaseMs);
      }
    }
    return shortest;
  }

  private startWorker(
    runtime: ResolvedRuntimeOptions,
    workflows: string[],
  ): RunningWorker {
    const { schema, instanceName, reconnectBackoff } = this.options;
    const queue = new TaskRepository(schema);
    const calls = new ActivityCallRepository(schema);
    const transactions = transactionOpener(
      () => this.database.appDataSource(),
      async (pid) => {
        await executor.query(cancelBackend(pid));
      },
      (claim, backend) => leases.watch(claim, backend),
    );
    const executor = new PoolExecutor(this.database.pool);
    const recordedCalls = new RecordedCallsLoader(
      (keys) => calls.recorded(executor, keys),
      new RecordedCallsCache(RECORDED_CALLS_CACHE_BYTES),
    );
    const leases = new LeaseKeeper(
      queue,
      this.database.heartbeat,
      this.database.bounds('heartbeat').clientMs,
    );
    const outcomes = new OutcomeBatcher(
      this.writer,
      this.database.pool,
      instanceName,
      reconnectBackoff,
    );
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
      shortestLeaseMs: this.shortestLeaseMs(workflows),
      pollIntervalMs: runtime.pollIntervalMs,
      backoff: reconnectBackoff,
      claim: (limit) => queue.claim(executor, workflows, limit, instanceName),
      onClaimed: (run, claimSentAt) => runner.hold(run, claimSentAt),
      runStep: (run, stepDone): Promise<void> => runner.run(run, stepDone),
      stillHeld: (run) => leases.mayHold(run),
      dropped: (run) => runner.drop(run),
      sweep: () => rescuer.sweep(),
      idle: waiting,
    });
    const rescuer = new LeaseRescuer(
      queue,
      executor,
      this.writer,
      this.events,
      this.registry,
      this.options.defaults.retry,
      claimLoop,
      instanceName,
    );
    const runner: AttemptRunner = new AttemptRunner(
      new AttemptPipeline(
        new StepKind(
          this.registry,
          this.options.maxInputSizeBytes,
          recordedCalls,
        ),
        new CallKind(this.registry, this.options.maxInputSizeBytes),
        transactions,
      ),
      new OutcomeCommitter(outcomes, (on, entries) =>
        this.writer.commit(on, entries, instanceName),
      ),
      leases,
      new AttemptAnnouncer(this.registry, this.events, this.interceptors),
      this.interceptors,
      claimLoop,
    );
    const listener = new NotificationListener(
      () => this.database.createClient('listen'),
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
        if (this.events.has('listener:connected')) {
          this.events.emit('listener:connected', {});
        }
      },
      (error) => {
        if (this.events.has('listener:lost')) {
          this.events.emit('listener:lost', { error });
        }
      },
      reconnectBackoff,
      this.database.bounds('listen').serverMs,
    );
    const sampler = new QueueSampler(this.metrics, schema, workflows);
    const maintenance = new MaintenanceLoop(
      this.database.maintenance,
      schema,
      workflows,
      runtime.maintenanceIntervalMs,
      Math.max(runtime.pollIntervalMs * 5, 1_000),
      (on) => sampler.sample(on),
    );
    const scheduler = new Scheduler(
      this.database.pool,
      schema,
      this.registry,
      workflows,
      reconnectBackoff,
      this.writer,
      this.events,
    );
    listener.start();
    claimLoop.start();
    maintenance.start();
    scheduler.start();
    return {
      claimLoop,
      runner,
      outcomes,
      leases,
      listener,
      maintenance,
      scheduler,
      waiting,
    };
  }
}
