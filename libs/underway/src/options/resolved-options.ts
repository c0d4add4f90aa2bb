import type { DataSource, DataSourceOptions } from 'typeorm';
import type { ResolvedRetryPolicy } from '../common/retry-policy';
import type { Schema } from '../database/sql';
import type { ReconnectBackoff } from '../database/transient-retry';

/** The policies of one step, fully resolved, durations in milliseconds. */
export interface StepPolicy {
  readonly retry: ResolvedRetryPolicy;
  readonly timeoutMs: number;
  readonly heartbeatMs: number;
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
}

/** `UnderwayModuleOptions` with every default applied; frozen. */
export interface ResolvedOptions {
  readonly dataSource: DataSource | DataSourceOptions | undefined;
  readonly dataSourceName: string | undefined;
  readonly schema: Schema;
  readonly migrationsRun: boolean;
  readonly runtime: ResolvedRuntimeOptions | false;
  readonly instanceName: string;
  readonly maxInputSizeBytes: number;
  readonly shutdownTimeoutMs: number;
  readonly defaults: ResolvedDefaults;
  readonly reconnectBackoff: ReconnectBackoff;
  readonly connections: ResolvedConnectionOptions;
}

export interface ResolvedConnectionOptions {
  readonly statementTimeoutMs: number;
  /** `undefined`: the DataSource's `connectTimeoutMS`, else 10 s. */
  readonly connectTimeoutMs: number | undefined;
}
