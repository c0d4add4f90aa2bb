import { Inject, Injectable } from '@nestjs/common';
import { ownOptions } from '../common/options-object';
import { parseDuration } from '../common/duration';
import { PoolExecutor } from '../database/sql-executor';
import { UnderwayDatabase } from '../database/underway-database';
import { WorkflowRegistry } from '../discovery/workflow.registry';
import { UnderwayEvents } from '../events/underway-events';
import { oldestDueMs, readQueueStats } from '../observability/queue-stats';
import type { ResolvedOptions } from '../options/resolved-options';
import { UNDERWAY_OPTIONS } from '../underway.constants';
import { WorkerService } from '../worker/worker.service';
import type {
  UnderwayHealthDetails,
  UnderwayHealthOptions,
  UnderwayHealthResult,
} from './underway-health.interface';

const DEFAULT_TIMEOUT_MS = 1_000;
/** A timeout longer than this would outlast any health probe. */
const MAX_TIMEOUT_MS = 60_000;

/**
 * A health indicator for `@nestjs/terminus` (an optional peer: this class
 * needs nothing from it, and the library loads without it):
 *
 * ```ts
 * @Get('health')
 * @HealthCheck()
 * check() {
 *   return this.health.check([
 *     () => this.underway.isHealthy('underway', { maxOldestDueAge: '5m' }),
 *   ]);
 * }
 * ```
 *
 * Up when the database answers within `timeout`, this process's worker runs
 * and its `LISTEN` connection listens (an instance with `runtime: false`, or
 * with no workflow to run, has no worker to check), and the oldest due run or
 * activity call of the workflows it runs has waited at most
 * `maxOldestDueAge`. Each call runs one statement on Underway's own pool.
 *
 * @publicApi
 */
@Injectable()
export class UnderwayHealthIndicator {
  /** The worker's `LISTEN` connection, as its `listener:*` events tell. */
  private listening = false;

  /** @internal Made by Nest's injector; its parameters are the library's own. */
  constructor(
    @Inject(UNDERWAY_OPTIONS) private readonly options: ResolvedOptions,
    private readonly registry: WorkflowRegistry,
    private readonly database: UnderwayDatabase,
    private readonly worker: WorkerService,
    events: UnderwayEvents,
  ) {
    events.on('listener:connected', () => {
      this.listening = true;
    });
    events.on('listener:lost', () => {
      this.listening = false;
    });
  }

  /**
   * @returns `{ [key]: { status: 'up' | 'down', … } }` (never throws for a
   *   down check: terminus reads the status)
   * @throws InvalidOptionsError for an unknown option or a bad duration
   */
  async isHealthy<const Key extends string>(
    key: Key,
    options?: UnderwayHealthOptions,
  ): Promise<UnderwayHealthResult<Key>> {
    const given = ownOptions(
      options,
      ['maxOldestDueAge', 'timeout'],
      'an isHealthy',
    );
    const maxAgeMs =
      given.maxOldestDueAge === undefined
        ? undefined
        : parseDuration(given.maxOldestDueAge, 'maxOldestDueAge');
    const timeoutMs =
      given.timeout === undefined
        ? DEFAULT_TIMEOUT_MS
        : parseDuration(given.timeout, 'timeout', {
            min: 1,
            max: MAX_TIMEOUT_MS,
          });

    const problems: string[] = [];
    const worker = this.worker.status();
    const details: UnderwayHealthDetails = {
      status: 'up',
      database: 'up',
      worker: worker.state,
      listener:
        worker.state !== 'running'
          ? 'none'
          : this.listening
            ? 'listening'
            : 'down',
    };
    if (worker.state === 'starting' || worker.state === 'stopped') {
      problems.push(
        `the worker is ${worker.state === 'starting' ? 'not started yet' : 'stopped'}`,
      );
    } else if (details.listener === 'down') {
      problems.push('the worker’s LISTEN connection is down (reconnecting)');
    }
    try {
      const ageMs = await this.oldestDueAgeMs(timeoutMs);
      details.oldestDueAgeMs = ageMs;
      if (maxAgeMs !== undefined) {
        details.maxOldestDueAgeMs = maxAgeMs;
        if (ageMs > maxAgeMs) {
          problems.push(
            `the oldest due run has waited ${Math.round(ageMs)}ms, more than maxOldestDueAge (${maxAgeMs}ms)`,
          );
        }
      }
    } catch (err) {
      details.database = 'down';
      problems.unshift(
        `the database is unreachable (${(err as Error).message})`,
      );
    }
    if (problems.length > 0) {
      details.status = 'down';
      details.message = problems.join('; ');
    }
    return { [key]: details } as UnderwayHealthResult<Key>;
  }

  /** One statement, bounded by `timeoutMs` (connecting included). */
  private async oldestDueAgeMs(timeoutMs: number): Promise<number> {
    const runtime = this.options.runtime;
    const workflows = runtime
      ? this.registry.namesToRun(runtime.workflows)
      : this.registry.all().map((definition) => definition.name);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${timeoutMs}ms`)),
        timeoutMs,
      );
    });
    try {
      const query = readQueueStats(
        new PoolExecutor(this.database.pool, timeoutMs),
        this.options.schema,
        workflows,
      );
      query.catch(() => undefined); // when it loses the race, its error is old news
      return oldestDueMs(await Promise.race([query, timedOut]));
    } finally {
      clearTimeout(timer);
    }
  }
}
