import { MAX_LISTED_WAITS } from '../engine/activity-call.repository';
import type { SignalDetails, WaitDetails } from '../model/run-details';
import { cliAdmin } from './cli-admin';
import { Command, print } from './command';
import { migrated, runIdArgument, runNotFound } from './command-arguments';
import { childrenText, parentText, readRunFamily } from './run-family';
import { formatRecord, formatTable, stepLabel } from './table';

export const runCommand: Command = {
  name: 'run',
  summary:
    'show a run: its state, input, output, parent, attempts, activity calls, children, waits, signals and errors',
  usage:
    'underway run <id> [--schema <name>] [--json]\n\n' +
    `Its children (ctx.child, startChild) are counted by state and the first\n` +
    `${MAX_LISTED_WAITS.toLocaleString('en-US')} listed in the order they were started; its waits (ctx.waitFor,\n` +
    `waitForAny, sleep) and the signals sent to it are the latest ${MAX_LISTED_WAITS.toLocaleString('en-US')} of each,\n` +
    `as client.getRun() lists them.`,
  positionals: ['<id>'],
  async run(context) {
    const id = runIdArgument(context);
    const database = await migrated(context);
    // As client.getRun(), without the workflow code: no step names.
    const run = await cliAdmin(database).getRun(database.executor, id);
    if (!run) {
      throw runNotFound(id, database);
    }
    const family = await readRunFamily(database, id);
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
      waits: run.waits.map(waitJson),
      signals: run.signals.map(signalJson),
      parent: family.parent,
      childCounts: family.childCounts,
      children: family.children,
    };
    // The signal a wait took, by name (waitForAny takes one of several).
    const nameOf = new Map(details.signals.map((g) => [g.signalId, g.name]));
    const text =
      formatRecord([
        ['Run', details.id],
        ['Workflow', details.workflowName],
        ['State', details.state],
        ['Step', stepLabel(details.stepIndex, details.stepName)],
        ['Parent', parentText(family.parent)],
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
      ) +
      childrenText(family) +
      `\nWaits${bound(details.waits)}\n` +
      formatTable(
        ['STEP', 'CALL', 'KIND', 'SIGNALS', 'STATE', 'DEADLINE', 'TOOK'],
        details.waits.map((w) => [
          stepLabel(w.stepIndex, w.stepName),
          w.callIndex,
          w.kind,
          w.names.join(', '),
          w.state,
          w.deadline,
          w.signalId === null
            ? null
            : `${nameOf.get(w.signalId) ?? '?'} ${w.signalId}`,
        ]),
      ) +
      `\nSignals${bound(details.signals)}\n` +
      formatTable(
        ['ID', 'NAME', 'STATE', 'TAKEN BY', 'SENT', 'KEY'],
        details.signals.map((g) => [
          g.signalId,
          g.name,
          g.state,
          g.consumedBy
            ? `${stepLabel(g.consumedBy.stepIndex, g.consumedBy.stepName)} call ${g.consumedBy.callIndex}`
            : null,
          g.sentAt,
          g.idempotencyKey,
        ]),
      );
    print(context, details, text);
  },
};

/** A wait as `--json` shows it: `getRun().waits`, with `null` for what is unset. */
function waitJson(w: WaitDetails) {
  return {
    stepIndex: w.stepIndex,
    stepName: w.stepName ?? null,
    callIndex: w.callIndex,
    kind: w.kind,
    names: w.names,
    state: w.state,
    deadline: w.deadline ?? null,
    signalId: w.signalId ?? null,
    createdAt: w.createdAt,
    completedAt: w.completedAt ?? null,
  };
}

/** A signal as `--json` shows it: `getRun().signals`, with `null` for what is unset. */
function signalJson(g: SignalDetails) {
  return {
    signalId: g.signalId,
    name: g.name,
    state: g.state,
    idempotencyKey: g.idempotencyKey ?? null,
    consumedBy: g.consumedBy
      ? { ...g.consumedBy, stepName: g.consumedBy.stepName ?? null }
      : null,
    sentAt: g.sentAt,
    consumedAt: g.consumedAt ?? null,
  };
}

/** ` (the latest 1,000)` after a list's title when it reached its bound. */
function bound(list: readonly unknown[]): string {
  return list.length >= MAX_LISTED_WAITS
    ? ` (the latest ${MAX_LISTED_WAITS.toLocaleString('en-US')})`
    : '';
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
