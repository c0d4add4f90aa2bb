import type { PoolConfig } from 'pg';
import type { DataSource, DataSourceOptions } from 'typeorm';
import { InvalidOptionsError } from '../errors/invalid-options.error';

interface PostgresOptionsLike {
  type: string;
  url?: string;
  host?: string;
  port?: number;
  username?: string;
  password?: string | (() => string) | (() => Promise<string>);
  database?: string;
  ssl?: PoolConfig['ssl'];
  connectTimeoutMS?: number;
  replication?: { master: Omit<PostgresOptionsLike, 'type' | 'replication'> };
}

/**
 * The `pg` connection settings of a TypeORM DataSource, so the library can open
 * its own pools (separate from the app's, so a busy app cannot starve workers)
 * against the same database. With replication, the primary is used.
 */
export function connectionConfigFrom(
  source: DataSource | DataSourceOptions,
): PoolConfig {
  const options = (
    'options' in source && 'driver' in source ? source.options : source
  ) as PostgresOptionsLike;
  if (options.type !== 'postgres') {
    throw new InvalidOptionsError(
      'dataSource',
      `must be a PostgreSQL DataSource (type: 'postgres'), got type '${options.type}'`,
    );
  }
  const primary = options.replication?.master ?? options;
  return {
    connectionString: primary.url,
    host: primary.host,
    port: primary.port,
    user: primary.username,
    password: primary.password,
    database: primary.database,
    ssl: primary.ssl ?? options.ssl,
    connectionTimeoutMillis: options.connectTimeoutMS ?? 10_000,
    // TCP keepalive: a connection whose server vanished without closing it
    // (a host or network failure) errors within about a minute, instead of
    // the kernel default of hours; the listener then reconnects.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
}
