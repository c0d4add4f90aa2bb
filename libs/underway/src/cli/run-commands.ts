import { withTransaction } from '../database/sql-executor';
import { RunNotFoundError } from '../errors/run-not-found.error';
import { RunNotRetryableError } from '../errors/run-not-retryable.error';
import type { RunState } from '../model/run-state';
import { cliAdmin } from './cli-admin';
import { listRuns, RunListRow } from './cli.sql';
import { refused, usageError } from './cli.error';
import { Command, print } from './command';
import {
  MAX_LIMIT,
  migrated,
  parseLimit,
  runIdArgument,
  runNotFound,
} from './command-arguments';
import { formatTable } from './table';

const RUN_STATES: readonly RunState[] = [
  'pending',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'cancelled',
];

export const runsCommand: Command = {
  name: 'runs',
  summary: 'list runs, newest first',
  usage:
    'underway runs [--workflow <name>] [--state <state>] [--limit <n>] [--schema <name>] [--json]\n\n' +
    `  --state   one of ${RUN_STATES.join(', ')}\n` +
    `  --limit   1 to ${MAX_LIMIT}, in decimal digits (default 20)`,
  options: {
    workflow: { type: 'string' },
    state: { type: 'string' },
    limit: { type: 'string' },
  },
  async run(context) {
    const state = context.values.state as string | undefined;
    if (state !== undefined && !(RUN_STATES as string[]).includes(state)) {
      throw usageError(
        `--state must be one of ${RUN_STATES.join(', ')}, got "${state}"`,
      );
    }
    const limit = parseLimit(context.values.limit, 20);
    const database = await migrated(context);
    const { rows } = await database.executor.query<RunListRow>(
      listRuns(database.schema, {
        workflow: (context.values.workflow as string | undefined) ?? null,
        state: state ?? null,
        limit,
      }),
    );
    print(
      context,
      rows.map((row) => ({
        id: row.id,
        workflowName: row.workflow_name,
        state: row.state,
        stepIndex: row.step_index,
        attempt: row.attempt,
        maxAttempts: row.max_attempts,
        errorCode: row.error_code,
        runAt: row.run_at,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      })),
      formatTable(
        ['ID', 'WORKFLOW', 'STATE', 'STEP', 'ATTEMPT', 'ERROR', 'CREATED'],
        rows.map((row) => [
          row.id,
          row.workflow_name,
          row.state,
          row.step_index,
          `${row.attempt}/${row.max_attempts}`,
          row.error_code,
          row.created_at,
        ]),
      ),
    );
  },
};

export const cancelCommand: Command = {
  name: 'cancel',
  summary:
    'cancel a run that has not finished (a running step sees ctx.signal abort)',
  usage: 'underway cancel <id> [--schema <name>] [--json]',
  positionals: ['<id>'],
  async run(context) {
    const id = runIdArgument(context);
    const database = await migrated(context);
    const admin = cliAdmin(database);
    const previous = await admin.cancel(database.executor, id);
    if (previous === undefined) {
      const run = await admin.getRun(database.executor, id);
      throw run
        ? refused(
            `Run ${id} is ${run.state}: only a pending, running or waiting run can be cancelled`,
          )
        : runNotFound(id, database);
    }
    print(
      context,
      { runId: id, cancelled: true, previousState: previous },
      `Run ${id} cancelled (it was ${previous}).\n`,
    );
  },
};

export const retryCommand: Command = {
  name: 'retry',
  summary: 'give a failed run a fresh attempt budget at the step that failed',
  usage:
    'underway retry <id> [--schema <name>] [--json]\n\n' +
    'As client.retry(): same run, finished steps not repeated, the failed step (and its\n' +
    'failed activity calls) run again. Without the app’s code at hand, the step gets as\n' +
    'many attempts again as its run recorded (max_attempts), and each failed call as many\n' +
    'as it recorded.',
  positionals: ['<id>'],
  async run(context) {
    const id = runIdArgument(context);
    const database = await migrated(context);
    // As client.retry(), with the budgets the run recorded.
    const retried = await withTransaction(database.pool, (executor) =>
      cliAdmin(database).retry(executor, id),
    ).catch((err: unknown) => {
      if (err instanceof RunNotFoundError) {
        throw runNotFound(id, database);
      }
      if (err instanceof RunNotRetryableError) {
        throw refused(err.message);
      }
      throw err;
    });
    print(
      context,
      {
        runId: id,
        state: retried.state,
        stepIndex: retried.stepIndex,
        resetCalls: retried.resetCalls,
      },
      `Run ${id} retried at step ${retried.stepIndex}: ${retried.state}` +
        (retried.resetCalls > 0
          ? ` (its ${retried.resetCalls} failed activity call(s) run again first)`
          : '') +
        '.\n',
    );
  },
};
