import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { escapeIdentifier } from 'pg';
import { databaseUrl, query } from '../support/database';
import { packedLibrary } from '../support/packed-library';
import { PUBLIC_EXPORTS } from '../support/public-exports';

/**
 * The published package, tested as users install it: `npm pack` of
 * libs/underway (support/packed-library.ts), installed into a scratch app in a temporary folder (from the
 * npm cache, or the registry for what it lacks), compiled with `strict` and
 * `skipLibCheck: false` and no `@types/pg`, then booted against the test
 * database to run a two-step workflow in a transaction, and its testing kit
 * (`@underway/nestjs/testing`) to run a workflow that sleeps a day.
 */
const run = promisify(execFile);
const REPO_ROOT = resolve(__dirname, '..', '..');
const LIBRARY = join(REPO_ROOT, 'libs', 'underway');
const MANIFEST = JSON.parse(
  readFileSync(join(LIBRARY, 'package.json'), 'utf8'),
) as {
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, unknown>;
};
/** What a consumer app installs besides the tarball: the versions this repo tests. */
const CONSUMER_DEPENDENCIES = [
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/typeorm',
  'typeorm',
  'pg',
  'reflect-metadata',
  'rxjs',
];
const CONSUMER_DEV_DEPENDENCIES = ['typescript', '@types/node'];
const STEP_MS = 300_000;

function installedVersion(name: string): string {
  const manifest = JSON.parse(
    readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8'),
  ) as { version: string };
  return manifest.version;
}

function filesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory()
      ? filesUnder(path, base)
      : [path.slice(base.length + 1)];
  });
}

const CONSUMER_MAIN = `import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  Step,
  Transition,
  UnderwayModule,
  Workflow,
  WorkflowClient,
  WorkflowRun,
} from '@underway/nestjs';
import { DataSource } from 'typeorm';

interface Order {
  orderId: number;
}

@Workflow({ name: 'packaged-order' })
export class OrderWorkflow {
  @Step()
  async charge({ orderId }: Order) {
    return Transition.next({ orderId, charged: true });
  }

  @Step()
  async receipt({ orderId, charged }: { orderId: number; charged: boolean }) {
    return Transition.complete({ receipt: \`R-\${orderId}\`, charged });
  }
}

@Module({
  imports: [
    TypeOrmModule.forRoot({ type: 'postgres', url: process.env.DATABASE_URL }),
    UnderwayModule.forRoot({
      schema: process.env.UNDERWAY_SCHEMA,
      runtime: { pollInterval: '200ms' },
    }),
  ],
  providers: [OrderWorkflow],
})
class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule, {
    logger: ['error', 'warn'],
  });
  const client = app.get(WorkflowClient);
  const dataSource = app.get(DataSource);
  const run: WorkflowRun = await dataSource.transaction((manager) =>
    client.enqueue(OrderWorkflow, { orderId: 7 }, { manager }),
  );
  const output = await run.result({ timeout: 30_000 });
  const details = await client.getRun(run.id);
  console.log(JSON.stringify({ output, state: details?.state, steps: details?.attempts.length }));
  await app.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
`;

/** The testing kit from the package's `./testing` subpath, in a manual app. */
const CONSUMER_KIT = `import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  Activity,
  Step,
  StepContext,
  Transition,
  UnderwayModule,
  Workflow,
  WorkflowIO,
} from '@underway/nestjs';
import {
  createUnderwayTestKit,
  RunStuckError,
  UnderwayTestKit,
} from '@underway/nestjs/testing';

@Workflow({ name: 'packaged-reminder' })
export class ReminderWorkflow extends WorkflowIO<{ to: string }, { sent: string }> {
  @Activity()
  async send(to: string): Promise<string> {
    return \`real:\${to}\`;
  }

  @Step()
  async wait(input: { to: string }, ctx: StepContext) {
    await ctx.sleep('1d');
    return Transition.next(input);
  }

  @Step()
  async remind({ to }: { to: string }, ctx: StepContext<ReminderWorkflow>) {
    return Transition.complete({ sent: await ctx.call('send', to) });
  }
}

@Module({
  imports: [
    TypeOrmModule.forRoot({ type: 'postgres', url: process.env.DATABASE_URL }),
    UnderwayModule.forRoot({ schema: process.env.UNDERWAY_SCHEMA, runtime: 'manual' }),
  ],
  providers: [ReminderWorkflow],
})
class KitModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(KitModule, {
    logger: ['error', 'warn'],
  });
  const kit: UnderwayTestKit = createUnderwayTestKit(app);
  kit.mockActivity(ReminderWorkflow, 'send', (to: string) => \`mock:\${to}\`);
  const output: { sent: string } = await kit.runToCompletion(ReminderWorkflow, { to: 'ada' });
  console.log(JSON.stringify({
    output,
    movedDays: Math.round(kit.clock.offsetMs / 86_400_000),
    stuckError: typeof RunStuckError,
  }));
  await app.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
`;

/** What `@underway/nestjs/testing` exports at run time. */
const TESTING_EXPORTS = [
  'EventTimeoutError',
  'ManualRuntimeRequiredError',
  'RunStuckError',
  'TestClock',
  'TestEvents',
  'TestKitNotStartedError',
  'UnderwayTestKit',
  'createUnderwayTestKit',
];

const CONSUMER_TSCONFIG = {
  compilerOptions: {
    module: 'commonjs',
    moduleResolution: 'node',
    target: 'ES2022',
    lib: ['ES2023'],
    strict: true,
    skipLibCheck: false,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    esModuleInterop: true,
    types: ['node'],
    outDir: 'dist',
  },
  include: ['src/**/*.ts'],
};

describe('the published package', () => {
  let work: string;
  let schema: string;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'underway-package-'));
    schema = `pkg_${Date.now().toString(36)}`;
  });

  afterAll(async () => {
    rmSync(work, { recursive: true, force: true });
    await query(`drop schema if exists ${escapeIdentifier(schema)} cascade`);
    await query(
      `drop schema if exists ${escapeIdentifier(`${schema}_kit`)} cascade`,
    );
  });

  it(
    'packs, installs into a strict app without @types/pg, compiles, boots and runs a workflow',
    async () => {
      // 1. npm pack (its prepack builds dist afresh), or the tarball another
      // test packed from the same sources.
      const packed = await packedLibrary();
      expect(basename(packed)).toMatch(/^underway-nestjs-.+\.tgz$/);
      const unpacked = join(work, 'unpacked');
      mkdirSync(unpacked);
      await run('tar', ['-xzf', packed, '-C', unpacked]);
      const files = filesUnder(join(unpacked, 'package'));

      // 2. What the tarball holds: the entry points (the testing kit's
      // too), the bin, no tests or fixtures, and no source map pointing at a
      // file it does not ship.
      const testing = MANIFEST.exports['./testing'] as Record<string, string>;
      for (const entry of [
        MANIFEST.main,
        MANIFEST.types,
        testing.types!,
        testing.default!,
      ]) {
        expect(files).toContain(entry.replace(/^\.\//, ''));
      }
      for (const bin of Object.values(MANIFEST.bin)) {
        expect(files).toContain(bin.replace(/^\.\//, ''));
        expect(
          readFileSync(join(unpacked, 'package', bin), 'utf8').startsWith(
            '#!/usr/bin/env node',
          ),
        ).toBe(true);
      }
      expect(files).toContain('README.md');
      expect(
        files.filter((file) =>
          /(\.spec\.|\.e2e-spec\.|thrown-by|(^|\/)test\/|fixtures)/.test(file),
        ),
      ).toEqual([]);
      for (const map of files.filter((file) => file.endsWith('.map'))) {
        const { sources } = JSON.parse(
          readFileSync(join(unpacked, 'package', map), 'utf8'),
        ) as { sources: string[] };
        for (const source of sources) {
          expect(
            existsSync(resolve(join(unpacked, 'package', map), '..', source)),
          ).toBe(true);
        }
      }

      // 3. A consumer app: the tarball and the peers, at this repo's versions.
      const app = join(work, 'app');
      mkdirSync(join(app, 'src'), { recursive: true });
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({
          name: 'consumer',
          private: true,
          dependencies: {
            '@underway/nestjs': `file:${packed}`,
            ...Object.fromEntries(
              CONSUMER_DEPENDENCIES.map((name) => [
                name,
                installedVersion(name),
              ]),
            ),
          },
          devDependencies: Object.fromEntries(
            CONSUMER_DEV_DEPENDENCIES.map((name) => [
              name,
              installedVersion(name),
            ]),
          ),
        }),
      );
      writeFileSync(
        join(app, 'tsconfig.json'),
        JSON.stringify(CONSUMER_TSCONFIG),
      );
      writeFileSync(join(app, 'src', 'main.ts'), CONSUMER_MAIN);
      writeFileSync(join(app, 'src', 'kit.ts'), CONSUMER_KIT);
      await run(
        'npm',
        [
          'install',
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
          '--loglevel=error',
        ],
        { cwd: app, maxBuffer: 16 * 1024 * 1024 },
      );
      expect(existsSync(join(app, 'node_modules', '@types', 'pg'))).toBe(false);

      // 4. Strict compilation, library declarations included.
      const compiled = await run(
        join(app, 'node_modules', '.bin', 'tsc'),
        ['-p', '.'],
        { cwd: app },
      ).catch((err: { stdout?: string; message: string }) => {
        throw new Error(`tsc failed:\n${err.stdout ?? err.message}`);
      });
      expect(compiled.stdout).toBe('');
      // The subpath resolves through `exports` too (module nodenext, as
      // `nest new` sets it), not only through `typesVersions`.
      const nodenext = await run(
        join(app, 'node_modules', '.bin', 'tsc'),
        [
          '-p',
          '.',
          '--module',
          'nodenext',
          '--moduleResolution',
          'nodenext',
          '--noEmit',
        ],
        { cwd: app },
      ).catch((err: { stdout?: string; message: string }) => {
        throw new Error(`tsc (nodenext) failed:\n${err.stdout ?? err.message}`);
      });
      expect(nodenext.stdout).toBe('');

      // 5. Every documented export, from the installed package.
      const exported = await run(
        process.execPath,
        [
          '-e',
          "console.log(JSON.stringify(Object.keys(require('@underway/nestjs')).sort()))",
        ],
        { cwd: app },
      );
      expect(JSON.parse(exported.stdout)).toEqual([...PUBLIC_EXPORTS].sort());
      const kitExports = await run(
        process.execPath,
        [
          '-e',
          "console.log(JSON.stringify(Object.keys(require('@underway/nestjs/testing')).sort()))",
        ],
        { cwd: app },
      );
      expect(JSON.parse(kitExports.stdout)).toEqual(
        [...TESTING_EXPORTS].sort(),
      );

      // 6. Boot and run a two-step workflow to completion.
      const started = await run(
        process.execPath,
        [join(app, 'dist', 'main.js')],
        {
          cwd: app,
          env: {
            ...process.env,
            DATABASE_URL: databaseUrl(),
            UNDERWAY_SCHEMA: schema,
          },
          timeout: 60_000,
        },
      );
      expect(JSON.parse(started.stdout.trim().split('\n').pop()!)).toEqual({
        output: { receipt: 'R-7', charged: true },
        state: 'succeeded',
        steps: 2,
      });

      // 7. The testing kit: a day of sleep skipped, an activity mocked.
      const kitRun = await run(
        process.execPath,
        [join(app, 'dist', 'kit.js')],
        {
          cwd: app,
          env: {
            ...process.env,
            DATABASE_URL: databaseUrl(),
            UNDERWAY_SCHEMA: `${schema}_kit`,
          },
          timeout: 60_000,
        },
      );
      expect(JSON.parse(kitRun.stdout.trim().split('\n').pop()!)).toEqual({
        output: { sent: 'mock:ada' },
        movedDays: 1,
        stuckError: 'function',
      });

      // 8. The bin runs: the migration SQL for a schema.
      const sql = await run(
        join(app, 'node_modules', '.bin', 'underway-sql'),
        ['--schema', 'billing'],
        { cwd: app, maxBuffer: 16 * 1024 * 1024 },
      );
      expect(sql.stdout).toMatch(/create table "?billing"?\.workflow_run/i);
    },
    STEP_MS,
  );
});
