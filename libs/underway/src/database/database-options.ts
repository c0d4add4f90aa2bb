import type { DataSource, DataSourceOptions } from 'typeorm';

/** The bounds of the library's own connections, in milliseconds. */
export interface ResolvedConnectionOptions {
  readonly statementTimeoutMs: number;
  /** `undefined`: the DataSource's `connectTimeoutMS`, else 10 s. */
  readonly connectTimeoutMs: number | undefined;
  /**
   * `false`: through a transaction pooler. Statements go unnamed, and no
   * startup parameter (`options`) is sent, which poolers refuse.
   */
  readonly preparedStatements: boolean;
  /** A direct connection for `LISTEN`, when the others go through a pooler. */
  readonly listenUrl: string | undefined;
}

/**
 * What `UnderwayDatabase` reads of the resolved options: its slice, so that
 * the database layer does not depend on the options layer above it.
 */
export interface DatabaseOptions {
  readonly dataSource: DataSource | DataSourceOptions | undefined;
  readonly dataSourceName: string | undefined;
  readonly instanceName: string;
  readonly connections: ResolvedConnectionOptions;
}
