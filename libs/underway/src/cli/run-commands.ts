import { withTransaction } from '../database/sql-executor';
import { RunNotFoundError } from '../errors/run-not-found.error';
import { RunNotRetryableError } from '../errors/run-not-retryable.error';
import type { RunState } from '../model/run-state';
import { cliAdmin } from './cli-admin';
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
  summary:
    'show a run: its state, input, output, attempts, activity calls and errors',
  usage: 'underway run <id> [--schema <name>] [--json]',
  positionals: ['<id>'],
  async run(context) {
    const id = runId(context);
    const database = await migrated(context);
    // As client.getRun(), without the workflow code: no step names.
    const run = await cliAdmin(database).getRun(database.executor, id);
    if (!run) {
      throw notFound(id, database);
    }
    const details = {
      id: run.id,
      workflowName: run.workflowName,
      state: run.state,
      stepIndex: run.currentStep.index,
      stepName: run.currentStep.name ?? null,
      attempt: run.attempt,
      maxAttempts: run.maxAttempts,
      priority: run.priority,
      runAt: run.runAt ?? null,
      idempotencyKey: run.idempotencyKey ?? null,
      input: run.input,
      output: run.output,
      error: run.error ?? null,
      createdAt: run.createdAt,
      updatedAt: run.updatedAt,
      startedAt: run.startedAt ?? null,
      completedAt: run.completedAt ?? null,
      attempts: run.attempts.map((a) => ({
        stepIndex: a.stepIndex,
        stepName: a.stepName ?? null,
        attempt: a.attempt,
        state: a.state,
        error: a.error ?? null,
        worker: a.worker ?? null,
        startedAt: a.startedAt ?? null,
        completedAt: a.completedAt,
      })),
      activityCalls: run.activityCalls,
    };
    const text =
      formatRecord([
        ['Run', details.id],
        ['Workflow', details.workflowName],
        ['State', details.state],
        ['Step', stepLabel(details.stepIndex, details.stepName)],
        ['Attempt', `${details.attempt}/${details.maxAttempts}`],
        [
          'Error',
          run.error ? `[${run.error.code}] ${run.error.message}` : null,
        ],
        ['Due', details.runAt],
        ['Created', details.createdAt],
        ['Started', details.startedAt],
        ['Completed', details.completedAt],
        ['Input', payloadText(details.input)],
        ['Output', payloadText(details.output)],
      ]) +
      '\nAttempts\n' +
      formatTable(
        ['STEP', 'ATTEMPT', 'STATE', 'WORKER', 'STARTED', 'COMPLETED', 'ERROR'],
        details.attempts.map((a) => [
          stepLabel(a.stepIndex, a.stepName),
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
    const admin = cliAdmin(database);
    const previous = await admin.cancel(database.executor, id);
    if (previous === undefined) {
      const run = await admin.getRun(database.executor, id);
      throw run
        ? refused(
            `Run ${id} is ${run.state}: only a pending, running or waiting run can be cancelled`,
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
    // As client.retry(), with the budgets the run recorded.
    const retried = await withTransaction(database.pool, (executor) =>
      cliAdmin(database).retry(executor, id),
    ).catch((err: unknown) => {
      if (err instanceof RunNotFoundError) {
        throw notFound(id, database);
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

/**
 * A step as the CLI can name it: its index (0-based, in declaration order),
 * and its method's name where the run's details carry it. The CLI has no
 * workflow code, so that is only where the database records it.
 */
function stepLabel(index: number, name: string | null): string {
  return name === null ? String(index) : `${index} (${name})`;
}

/** The most of a run's input or output a table shows (`--json` shows all). */
const PAYLOAD_CHARS = 500;

/**
 * A run's input or output for the table: its JSON on one line, cut at
 * `PAYLOAD_CHARS` characters (an input may be a MiB), saying so. Control
 * characters are made visible by the table, as in any cell.
 */
function payloadText(value: unknown): string | null {
  if (value === undefined) {
    return null;
  }
  const json = JSON.stringify(value);
  if (json.length <= PAYLOAD_CHARS) {
    return json;
  }
  // Not between the two halves of a surrogate pair.
  const end = /[\uD800-\uDBFF]/.test(json[PAYLOAD_CHARS - 1] ?? '')
    ? PAYLOAD_CHARS - 1
    : PAYLOAD_CHARS;
  return `${json.slice(0, end)}… (${json.length.toLocaleString('en-US')} characters; --json shows it whole)`;
}

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
