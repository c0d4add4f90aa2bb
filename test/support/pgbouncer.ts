import { ChildProcess, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from './free-port';
import { waitFor } from './wait-for';

/** Where Debian's `pgbouncer` package puts it, or `PGBOUNCER_PATH`. */
export function pgbouncerPath(): string | undefined {
  const path = process.env.PGBOUNCER_PATH ?? '/usr/sbin/pgbouncer';
  return existsSync(path) ? path : undefined;
}

export interface Pgbouncer {
  /** `postgres://…` through the pooler, to the database of `databaseUrl`. */
  readonly url: string;
  /**
   * Kills the pooler at once (SIGKILL: every client and server connection
   * drops mid-statement), then starts it again on the same port.
   */
  crash(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real PgBouncer in front of `databaseUrl`'s server, in `mode`, on a free
 * port, with a configuration of its own in a temporary folder. Run as root
 * (CI), it drops to the `postgres` user, as PgBouncer refuses to run as root.
 */
export async function startPgbouncer(
  databaseUrl: string,
  mode: 'transaction' | 'session',
): Promise<Pgbouncer> {
  const binary = pgbouncerPath();
  if (!binary) {
    throw new Error(
      'pgbouncer is not installed (apt-get install -y pgbouncer)',
    );
  }
  const server = new URL(databaseUrl);
  const database = decodeURIComponent(server.pathname.slice(1));
  const user = decodeURIComponent(server.username) || 'postgres';
  const password = decodeURIComponent(server.password);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'underway-pgbouncer-'));
  chmodSync(dir, 0o777);
  const root = userInfo().uid === 0;
  const quote = (value: string): string => `'${value.replace(/'/g, "''")}'`;
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `${database} = host=${server.hostname} port=${server.port || 5432} dbname=${database} ` +
        `user=${quote(user)}${password ? ` password=${quote(password)}` : ''}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      // Clients are not authenticated here: the server entry above logs in.
      'auth_type = any',
      `pool_mode = ${mode}`,
      'max_client_conn = 500',
      'default_pool_size = 20',
      'server_reset_query = DISCARD ALL',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      ...(root ? ['user = postgres'] : []),
      '',
    ].join('\n'),
  );
  chmodSync(join(dir, 'pgbouncer.ini'), 0o644);
  const url = `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  let child: ChildProcess;
  const start = async (): Promise<void> => {
    child = spawn(binary, [join(dir, 'pgbouncer.ini')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await waitFor(
      async () => {
        if (child.exitCode !== null) {
          throw new Error(`pgbouncer exited (${child.exitCode}): ${stderr}`);
        }
        const client = new Client({ connectionString: url });
        client.on('error', () => undefined);
        try {
          await client.connect();
          await client.query('select 1');
          return true;
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      { timeoutMs: 15_000, message: `pgbouncer listening on ${port}` },
    );
  };
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
    }
  };
  await start();
  return {
    url,
    async crash() {
      await kill('SIGKILL');
      await start();
    },
    async stop() {
      await kill('SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
