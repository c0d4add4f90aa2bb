import type { ResolvedRetryPolicy } from '../common/retry-policy';
import type {
  DatabaseOptions,
  ResolvedConnectionOptions,
} from '../database/database-options';
import type { Schema } from '../database/sql';
import type { ReconnectBackoff } from '../database/transient-retry';

/** The policies of one step, fully resolved, durations in milliseconds. */
export interface StepPolicy {
  readonly retry: ResolvedRetryPolicy;
  readonly timeoutMs: number;
  /** The lease (the public option is `heartbeat`): renewed three times per interval. */
  readonly leaseMs: number;
}

export interface ResolvedDefaults extends StepPolicy {
  readonly ttlMs: number;
}

export interface ResolvedRuntimeOptions {
  readonly concurrency: number;
  /** Runs claimed ahead: exactly this many, or with `adaptivePrefetch` at most this many. */
  readonly prefetch: number;
  /** `prefetch: 'auto'`: claim ahead in proportion to the observed pace. */
  readonly adaptivePrefetch: boolean;
  readonly pollIntervalMs: number;
  /** `undefined`: every registered workflow. */
  readonly workflows: readonly string[] | undefined;
  readonly maintenanceIntervalMs: number;
  readonly unknownStepGraceMs: number;
  /** `runtime: 'manual'`: no background worker, the testing kit drains the work. */
  readonly manual: boolean;
}

export type { ResolvedConnectionOptions };

/** `UnderwayModuleOptions` with every default applied; frozen. */
export interface ResolvedOptions extends DatabaseOptions {
  readonly schema: Schema;
  readonly migrationsRun: boolean;
  readonly runtime: ResolvedRuntimeOptions | false;
  readonly maxInputSizeBytes: number;
  readonly shutdownTimeoutMs: number;
  readonly defaults: ResolvedDefaults;
  readonly reconnectBackoff: ReconnectBackoff;
}
