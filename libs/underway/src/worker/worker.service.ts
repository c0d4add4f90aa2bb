import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { UnderwayDatabase } from '../database/underway-database';
import { WorkflowRegistry } from '../discovery/workflow.registry';
import { StepAbortedError } from '../errors/step-aborted.error';
import { UnderwayClosedError } from '../errors/underway-closed.error';
import type {
  ResolvedOptions,
  ResolvedRuntimeOptions,
} from '../options/resolved-options';
import { TransitionWriter } from '../engine/transition.writer';
import { InterceptorChain } from '../events/interceptor-chain';
import { UnderwayEvents } from '../events/underway-events';
import { UnderwayMetrics } from '../observability/underway-metrics';
import { UNDERWAY_OPTIONS } from '../underway.constants';
import { UnderwayBootstrap } from '../underway.bootstrap';
import { ManualWorker } from './manual-worker';
import { assembleWorker, buildWorker, RunningWorker } from './worker.assembly';

/** After the drain timeout, how long aborted steps get to give their claims back. */
const ABORT_GRACE_MS = 5_000;
/** The least time step outcomes get to commit at shutdown, even past `shutdownTimeout`. */
const OUTCOME_GRACE_MS = 1_000;

/** What the health indicator reads of this process's worker. */
export interface WorkerStatus {
  /**
   * `disabled`: `runtime: false`, or `'manual'` (no background worker: a
   * test drains the work); `idle`: no workflow to run here;
   * `starting`: not started yet (the database was down at boot);
   * `stopped`: shut down.
   */
  readonly state: 'disabled' | 'idle' | 'starting' | 'running' | 'stopped';
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
  /** `runtime: 'manual'`: the worker a test drives, once the schema is ready. */
  private manualWorker: ManualWorker | undefined;
  private bootstrapped = false;
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
    if (runtime && runtime.manual) {
      return { state: 'disabled' };
    }
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
    this.bootstrapped = true;
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
      if (runtime.manual) {
        this.startManual(runtime, workflows);
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

  /** Whether the application was initialized (`onApplicationBootstrap` ran). */
  get initialized(): boolean {
    return this.bootstrapped;
  }

  /**
   * The worker of `runtime: 'manual'`, once the schema is ready (for the
   * testing kit; call it once `initialized`); `undefined` when no workflow
   * is registered here.
   * @throws UnderwayClosedError once the application shuts down
   */
  async manual(operation: string): Promise<ManualWorker | undefined> {
    await this.bootstrap.ready;
    if (this.stopping) {
      throw new UnderwayClosedError(operation);
    }
    return this.manualWorker;
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
    // A drain in flight finishes (or is aborted) first, like steps in flight.
    await this.manualWorker?.stop(shutdownTimeoutMs);
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
    await worker.waits.stop();
    await worker.waiting.forget();
    await worker.listener.stop();
    this.logger.log(
      `Worker stopped${inFlight ? ` (${inFlight} step(s) were in flight)` : ''}`,
    );
  }

  private startWorker(
    runtime: ResolvedRuntimeOptions,
    workflows: string[],
  ): RunningWorker {
    return assembleWorker(this.dependencies(), runtime, workflows);
  }

  /**
   * `runtime: 'manual'`: the same worker, built but not started (no claim
   * loop, listener, scheduler timer or maintenance timer): a test drains it.
   */
  private startManual(
    runtime: ResolvedRuntimeOptions,
    workflows: string[],
  ): void {
    const worker = buildWorker(this.dependencies(), runtime, workflows);
    this.worker = worker;
    this.manualWorker = new ManualWorker(
      worker,
      this.writer,
      this.events,
      this.options.instanceName,
      runtime.concurrency,
    );
    this.logger.log(
      `Manual runtime: no background worker, schema="${this.options.schema}"; ` +
        `the testing kit's drain() runs the due work of ${workflows.length} workflow${workflows.length === 1 ? '' : 's'} (${workflows.join(', ')})`,
    );
  }

  private dependencies(): Parameters<typeof buildWorker>[0] {
    return {
      options: this.options,
      registry: this.registry,
      database: this.database,
      metrics: this.metrics,
      events: this.events,
      interceptors: this.interceptors,
      writer: this.writer,
    };
  }
}
