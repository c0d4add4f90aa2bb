import { ActivityCallRepository } from '../activity/activity-call.repository';
import { toActivityCallDetails } from '../activity/activity-call-details';
import { deserializePayload } from '../common/json-payload';
import { withTransaction } from '../database/sql-executor';
import { RunNotRetryableError } from '../errors/run-not-retryable.error';
import {
  lockDeadLetterForRetry,
  lockRunForRetry,
  retryFailedRun,
  RetryDeadLetterRow,
  RetryTargetRow,
} from '../engine/sql/retry.sql';
import { RunRepository } from '../workflow/run.repository';
import type { RunState } from '../workflow/run-state';
import { listRuns, RunListRow } from './cli.sql';
import { refused, usageError } from './cli.error';
import type { CliDatabase } from './cli-database';
import { Command, CommandContext, print } from './command';
import { isRunId, MAX_LIMIT, migrated, parseLimit } from './command-arguments';
import { formatRecord, formatTable } from './table';

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

export const runCommand: Command = {
  name: 'run',
  summary: 'show a run: its state, attempts, activity calls and errors',
  usage: 'underway run <id> [--schema <name>] [--json]',
  positionals: ['<id>'],
  async run(context) {
    const id = runId(context);
    const database = await migrated(context);
    const runs = new RunRepository(database.schema);
    const row = await runs.find(database.executor, id);
    if (!row) {
      throw notFound(id, database);
    }
    const [attempts, calls] = await Promise.all([
      runs.attempts(database.executor, id),
      new ActivityCallRepository(database.schema).ofRun(database.executor, id),
    ]);
    const details = {
      id: row.id,
      workflowName: row.workflow_name,
      state: row.state,
      stepIndex: row.step_index,
      attempt: row.attempt,
      maxAttempts: row.max_attempts,
      priority: row.priority,
      runAt: row.run_at,
      idempotencyKey: row.idempotency_key,
      input: deserializePayload(row.input),
      output: deserializePayload(row.output),
      error: row.error,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      startedAt: row.started_at,
      completedAt: row.completed_at,
      attempts: attempts.map((a) => ({
        stepIndex: a.step_index,
        attempt: a.attempt,
        state: a.state,
        error: a.error,
        worker: a.worker,
        startedAt: a.started_at,
        completedAt: a.completed_at,
      })),
      activityCalls: calls.map(toActivityCallDetails),
    };
    const text =
      formatRecord([
        ['Run', details.id],
        ['Workflow', details.workflowName],
        ['State', details.state],
        ['Step', details.stepIndex],
        ['Attempt', `${details.attempt}/${details.maxAttempts}`],
        [
          'Error',
          row.error ? `[${row.error.code}] ${row.error.message}` : null,
        ],
        ['Due', details.runAt],
        ['Created', details.createdAt],
        ['Started', details.startedAt],
        ['Completed', details.completedAt],
      ]) +
      '\nAttempts\n' +
      formatTable(
        ['STEP', 'ATTEMPT', 'STATE', 'WORKER', 'STARTED', 'COMPLETED', 'ERROR'],
        details.attempts.map((a) => [
          a.stepIndex,
          a.attempt,
          a.state,
          a.worker,
          a.startedAt,
          a.completedAt,
          a.error ? `[${a.error.code}] ${a.error.message}` : null,
        ]),
      ) +
      '\nActivity calls\n' +
      formatTable(
        ['STEP', 'CALL', 'NAME', 'KIND', 'STATE', 'ATTEMPT', 'ERROR'],
        details.activityCalls.map((c) => [
          c.stepIndex,
          c.callIndex,
          c.name,
          c.kind,
          c.state,
          `${c.attempt}/${c.maxAttempts}`,
          c.error ? `[${c.error.code}] ${c.error.message}` : null,
        ]),
      );
    print(context, details, text);
  },
};

export const cancelCommand: Command = {
  name: 'cancel',
  summary:
    'cancel a run that has not finished (a running step sees ctx.signal abort)',
  usage: 'underway cancel <id> [--schema <name>] [--json]',
  positionals: ['<id>'],
  async run(context) {
    const id = runId(context);
    const database = await migrated(context);
    const runs = new RunRepository(database.schema);
    const previous = (await runs.cancel(database.executor, id))?.previousState;
    if (previous === undefined) {
      const row = await runs.find(database.executor, id);
      throw row
        ? refused(
            `Run ${id} is ${row.state}: only a pending, running or waiting run can be cancelled`,
          )
        : notFound(id, database);
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
    const id = runId(context);
    const database = await migrated(context);
    const retried = await withTransaction(database.pool, async (executor) => {
      const target = (
        await executor.query<RetryTargetRow>(
          lockRunForRetry(database.schema, id),
        )
      ).rows[0];
      if (!target) {
        throw notFound(id, database);
      }
      if (target.state !== 'failed') {
        throw refused(
          new RunNotRetryableError(id, target.state as RunState).message,
        );
      }
      const entry = (
        await executor.query<RetryDeadLetterRow>(
          lockDeadLetterForRetry(database.schema, id),
        )
      ).rows[0];
      if (entry?.redriven_run_id) {
        throw refused(
          new RunNotRetryableError(id, 'failed', entry.redriven_run_id).message,
        );
      }
      // No budgets: the statement keeps each task's recorded max_attempts.
      const { rows } = await executor.query<{
        state: RunState;
        reset_calls: number;
      }>(retryFailedRun(database.schema, id, { steps: [], activities: {} }));
      return { ...rows[0]!, stepIndex: target.step_index };
    });
    print(
      context,
      {
        runId: id,
        state: retried.state,
        stepIndex: retried.stepIndex,
        resetCalls: retried.reset_calls,
      },
      `Run ${id} retried at step ${retried.stepIndex}: ${retried.state}` +
        (retried.reset_calls > 0
          ? ` (its ${retried.reset_calls} failed activity call(s) run again first)`
          : '') +
        '.\n',
    );
  },
};

function runId(context: CommandContext): string {
  const id = context.positionals[0]!;
  if (!isRunId(id)) {
    throw usageError(
      `"${id}" is not a run id (a UUID such as 01936d1e-8f4a-7c3b-9d2e-5f6a7b8c9d0e)`,
    );
  }
  return id;
}

function notFound(id: string, database: CliDatabase): Error {
  return refused(`No run ${id} in schema "${database.schema}"`);
}
