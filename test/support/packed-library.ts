import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './wait-for';

/**
 * The library as `npm pack` makes it, for the tests that install it the way
 * users do (package.e2e-spec.ts, first-hour.e2e-spec.ts).
 *
 * `npm pack` runs the package's `prepack`, which deletes and rebuilds
 * `libs/underway/dist`: two packs at once (two test files in parallel
 * workers, or two test runs on one machine) would delete each other's build.
 * So packing holds a lock (a directory, created atomically), and the tarball
 * is kept in the temp directory under a hash of everything the build reads:
 * the second test of a run, and any later run of unchanged sources, reuse it.
 */
const run = promisify(execFile);
const REPO_ROOT = resolve(__dirname, '..', '..');
const LIBRARY = join(REPO_ROOT, 'libs', 'underway');
/** What the package is built from: a change to any of them packs again. */
const INPUTS = [
  'libs/underway',
  'migrations',
  'tsconfig.json',
  'package-lock.json',
];
const SKIPPED = new Set(['dist', 'node_modules']);
const PACK_MS = 240_000;

function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) {
    return [path];
  }
  return readdirSync(path)
    .filter((name) => !SKIPPED.has(name) && !name.endsWith('.tgz'))
    .sort()
    .flatMap((name) => filesUnder(join(path, name)));
}

/** A hash of the repository's path and of every file the build reads. */
function sourceHash(): { repo: string; sources: string } {
  const hash = createHash('sha256');
  for (const file of INPUTS.flatMap((input) =>
    filesUnder(join(REPO_ROOT, input)),
  )) {
    hash.update(relative(REPO_ROOT, file)).update('\0');
    hash.update(readFileSync(file)).update('\0');
  }
  return {
    repo: createHash('sha256').update(REPO_ROOT).digest('hex').slice(0, 12),
    sources: hash.digest('hex').slice(0, 16),
  };
}

/** Whether the process that wrote `pidFile` is gone (or never wrote it, long ago). */
function holderGone(lock: string): boolean {
  const pidFile = join(lock, 'pid');
  if (!existsSync(pidFile)) {
    // Made, its pid not written yet: give it a moment before calling it stale.
    return existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 10_000;
  }
  const pid = Number(readFileSync(pidFile, 'utf8'));
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function withLock<T>(lock: string, work: () => Promise<T>): Promise<T> {
  await waitFor(
    () => {
      try {
        mkdirSync(lock);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw err;
        }
        if (holderGone(lock)) {
          rmSync(lock, { recursive: true, force: true });
        }
        return false;
      }
      writeFileSync(join(lock, 'pid'), String(process.pid));
      return true;
    },
    {
      timeoutMs: PACK_MS,
      intervalMs: 100,
      message: `the lock ${lock} of another npm pack of this repository`,
    },
  );
  try {
    return await work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * The path of the packed library's tarball (`underway-nestjs-<version>.tgz`),
 * packed now or earlier from the same sources.
 */
export async function packedLibrary(): Promise<string> {
  const { repo, sources } = sourceHash();
  const prefix = `underway-pack-${repo}-`;
  const cache = join(tmpdir(), `${prefix}${sources}`);
  const tarball = (): string | undefined => {
    const found = existsSync(cache)
      ? readdirSync(cache).find((name) => name.endsWith('.tgz'))
      : undefined;
    return found && join(cache, found);
  };
  const ready = tarball();
  if (ready) {
    return ready;
  }
  return withLock(join(tmpdir(), `${prefix}lock`), async () => {
    const packedMeanwhile = tarball();
    if (packedMeanwhile) {
      return packedMeanwhile;
    }
    const staging = mkdtempSync(join(tmpdir(), `${prefix}staging-`));
    try {
      await run('npm', ['pack', '--pack-destination', staging, '--silent'], {
        cwd: LIBRARY,
        maxBuffer: 16 * 1024 * 1024,
      });
      // Older tarballs of this repository are of sources that changed since.
      for (const name of readdirSync(tmpdir())) {
        if (
          name.startsWith(prefix) &&
          !name.startsWith(`${prefix}staging-`) &&
          name !== `${prefix}lock`
        ) {
          rmSync(join(tmpdir(), name), { recursive: true, force: true });
        }
      }
      renameSync(staging, cache);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
    return tarball()!;
  });
}
