import { withTransaction } from '../database/sql-executor';
import { readQueueStats } from '../observability/queue-stats';
import { BUILTIN_DEFAULTS } from '../options/resolve-options';
import { ScheduleRepository } from '../schedule/schedule.repository';
import {
  deadLetterCounts,
  DeadLetterCountRow,
  deadLetterQueueExists,
  finishedLastHour,
  FinishedRow,
} from './cli.sql';
import { cliAdmin } from './cli-admin';
import { refused, usageError } from './cli.error';
import { Command, print } from './command';
import { isRunId, migrated, parseLimit } from './command-arguments';
import { formatAge, formatTable } from './table';

export const redriveCommand: Command = {
  name: 'redrive',
  summary: 'enqueue again the runs of a dead-letter queue',
  usage:
    'underway redrive <queue> [--run <id>]... [--limit <n>] [--schema <name>] [--json]\n\n' +
    'As client.redrive(): each entry not yet redriven becomes a new run of its workflow\n' +
    'with the same input, and is marked redriven, in one transaction (oldest first, at\n' +
    'most --limit, default 100; --run picks entries by their failed run id). The CLI has\n' +
    'no workflow code: a new run takes its first step’s attempts, lease and priority from\n' +
    'the newest retained run of its workflow at that step, else the built-in defaults\n' +
    '(it says so).',
  positionals: ['<queue>'],
  options: {
    run: { type: 'string', multiple: true },
    limit: { type: 'string' },
  },
  async run(context) {
    const queue = context.positionals[0]!;
    if (queue.length === 0 || queue.length > 255) {
      throw usageError('<queue> must be a queue name of 1 to 255 characters');
    }
    const runIds = (context.values.run as string[] | undefined) ?? null;
    for (const id of runIds ?? []) {
      if (!isRunId(id)) {
        throw usageError(`--run "${id}" is not a run id (a UUID)`);
      }
    }
    const limit = parseLimit(context.values.limit, 100);
    const database = await migrated(context);
    // As client.redrive(), with the first steps' policies the database recorded.
    const { entries: redriven, guessed: defaulted } = await withTransaction(
      database.pool,
      async (executor) => {
        const done = await cliAdmin(database).redrive(executor, queue, {
          runIds,
          limit,
        });
        if (done.entries.length === 0) {
          const known = await executor.query<{ exists: boolean }>(
            deadLetterQueueExists(database.schema, queue),
          );
          if (!known.rows[0]?.exists) {
            throw refused(
              `No dead-letter queue "${queue}" in schema "${database.schema}"`,
            );
          }
        }
        return done;
      },
    );
    for (const name of defaulted) {
      context.output.err(
        `warning: no retained run of workflow "${name}" shows its first step's policy; ` +
          `its new runs got the defaults (${BUILTIN_DEFAULTS.retry.maxAttempts} attempts, ` +
          `${BUILTIN_DEFAULTS.leaseMs}ms lease, priority 0)\n`,
      );
    }
    print(
      context,
      { queue, redriven },
      redriven.length === 0
        ? `Nothing to redrive in "${queue}".\n`
        : `Redrove ${redriven.length} run(s) from "${queue}":\n` +
            formatTable(
              ['FAILED RUN', 'WORKFLOW', 'NEW RUN'],
              redriven.map((r) => [r.runId, r.workflowName, r.newRunId]),
            ),
    );
  },
};

export const schedulesCommand: Command = {
  name: 'schedules',
  summary: 'list the schedules and their next fire',
  usage: 'underway schedules [--workflow <name>] [--schema <name>] [--json]',
  options: { workflow: { type: 'string' } },
  async run(context) {
    const database = await migrated(context);
    const schedules = await new ScheduleRepository(database.schema).list(
      database.executor,
      (context.values.workflow as string | undefined) ?? null,
    );
    print(
      context,
      schedules,
      formatTable(
        [
          'WORKFLOW',
          'KEY',
          'CRON',
          'ZONE',
          'OVERLAP',
          'NEXT FIRE',
          'LAST FIRE',
          'LAST RUN',
          'SOURCE',
        ],
        schedules.map((s) => [
          s.workflowName,
          s.key,
          s.cron,
          s.timezone,
          s.overlap,
          s.nextFireAt,
          s.lastFireAt,
          s.lastRunId,
          s.source,
        ]),
      ),
    );
  },
};

export const statsCommand: Command = {
  name: 'stats',
  summary:
    'the queue per workflow, runs finished in the last hour, dead-letter queues',
  usage:
    'underway stats [--schema <name>] [--json]\n\n' +
    'Per workflow: unfinished runs by state, work due and not claimed yet (runs and\n' +
    'activity calls) with the age of the oldest, and runs finished in the last hour by\n' +
    'final state; then each dead-letter queue.',
  async run(context) {
    const database = await migrated(context);
    const [queue, finished, deadLetters] = await Promise.all([
      readQueueStats(database.executor, database.schema, null),
      database.executor.query<FinishedRow>(finishedLastHour(database.schema)),
      database.executor.query<DeadLetterCountRow>(
        deadLetterCounts(database.schema),
      ),
    ]);
    const names = [
      ...new Set([
        ...queue.map((s) => s.workflowName),
        ...finished.rows.map((r) => r.workflow_name),
      ]),
    ].sort();
    const workflows = names.map((name) => {
      const stats = queue.find((s) => s.workflowName === name);
      const done = (state: FinishedRow['state']): number =>
        finished.rows.find((r) => r.workflow_name === name && r.state === state)
          ?.count ?? 0;
      return {
        workflowName: name,
        pending: stats?.runs.pending ?? 0,
        running: stats?.runs.running ?? 0,
        waiting: stats?.runs.waiting ?? 0,
        due: stats?.due ?? 0,
        oldestDueMs: stats?.oldestDueMs ?? 0,
        lastHour: {
          succeeded: done('succeeded'),
          failed: done('failed'),
          cancelled: done('cancelled'),
        },
      };
    });
    const queues = deadLetters.rows.map((row) => ({
      queue: row.queue,
      waiting: row.waiting,
      redriven: row.redriven,
    }));
    print(
      context,
      { workflows, deadLetterQueues: queues },
      formatTable(
        [
          'WORKFLOW',
          'PENDING',
          'RUNNING',
          'WAITING',
          'DUE',
          'OLDEST DUE',
          'SUCCEEDED 1H',
          'FAILED 1H',
          'CANCELLED 1H',
        ],
        workflows.map((w) => [
          w.workflowName,
          w.pending,
          w.running,
          w.waiting,
          w.due,
          w.due > 0 ? formatAge(w.oldestDueMs) : null,
          w.lastHour.succeeded,
          w.lastHour.failed,
          w.lastHour.cancelled,
        ]),
      ) +
        '\nDead-letter queues\n' +
        formatTable(
          ['QUEUE', 'WAITING', 'REDRIVEN'],
          queues.map((q) => [q.queue, q.waiting, q.redriven]),
        ),
    );
  },
};

export const versionsCommand: Command = {
  name: 'versions',
  summary:
    'the versions of each workflow with runs in flight, and the instances that run them',
  usage:
    'underway versions [--workflow <name>] [--schema <name>] [--json]\n\n' +
    'As client.listVersions(): per workflow and version (@Workflow({ version })), its\n' +
    'unfinished runs and the running instances whose worker runs it (as their\n' +
    'housekeeping last said). An older version with no run in flight can be deleted\n' +
    'from the code; one with runs in flight and no instance needs its class deployed.',
  options: { workflow: { type: 'string' } },
  async run(context) {
    const workflow = context.values.workflow as string | undefined;
    if (
      workflow !== undefined &&
      (workflow.length === 0 || workflow.length > 200)
    ) {
      throw usageError(
        '--workflow must be a workflow name of 1 to 200 characters',
      );
    }
    const database = await migrated(context);
    const versions = await cliAdmin(database).listVersions(
      database.executor,
      workflow ?? null,
    );
    const latest = new Map<string, number>();
    for (const v of versions) {
      latest.set(
        v.workflowName,
        Math.max(latest.get(v.workflowName) ?? 0, v.version),
      );
    }
    print(
      context,
      versions,
      formatTable(
        ['WORKFLOW', 'VERSION', 'IN FLIGHT', 'INSTANCES', 'NOTE'],
        versions.map((v) => [
          v.workflowName,
          v.version,
          v.inFlight,
          v.instances.join(', '),
          versionNote(v, latest.get(v.workflowName) ?? v.version),
        ]),
      ),
    );
  },
};

/** What an operator should know of a version. */
function versionNote(
  version: { version: number; inFlight: number; instances: readonly string[] },
  latest: number,
): string {
  if (version.inFlight > 0 && version.instances.length === 0) {
    return 'runs in flight, and no running instance runs this version';
  }
  if (version.version === latest) {
    return 'latest';
  }
  return version.inFlight === 0
    ? 'no run in flight: its class can be deleted'
    : 'keep its class until no run is in flight';
}
