import { nameProblem } from '../common/limits';
import { withTransaction } from '../database/sql-executor';
import { checkSignalName } from '../decorators/define-signal';
import { checkSignal, sendCheckedSignal } from '../engine/run-signals';
import { InvalidInputError } from '../errors/invalid-input.error';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { PayloadTooLargeError } from '../errors/payload-too-large.error';
import { RunFinishedError } from '../errors/run-finished.error';
import { RunNotFoundError } from '../errors/run-not-found.error';
import { cliWriter } from './cli-admin';
import { refused, usageError } from './cli.error';
import { selectSentSignal, SentSignalRow } from './cli.sql';
import { Command, CommandContext, print } from './command';
import { migrated, runIdArgument, runNotFound } from './command-arguments';

/**
 * The largest payload the CLI sends: the module's default `maxInputSize`
 * (1 MiB). The CLI has no app options to read a larger one from.
 */
export const MAX_SIGNAL_PAYLOAD_BYTES = 1024 * 1024;

export const signalCommand: Command = {
  name: 'signal',
  summary:
    'send a signal to a run (as client.signal(), the signal by its name)',
  usage:
    'underway signal <id> <name> [<payload>] [--key <idempotencyKey>] [--schema <name>] [--json]\n\n' +
    "  <name>     the signal’s durable name: defineSignal('approval') is approval\n" +
    '  <payload>  its payload as JSON, quoted for the shell: \'{"approved":true,"by":"ana"}\',\n' +
    '             \'"a string"\', 42; none for a signal without one (null is refused: a\n' +
    '             wait resolves with null on timeout). One that starts with - goes after --.\n' +
    '  --key      an idempotency key: a resend with the same key stores nothing (duplicate)\n\n' +
    'As client.signal(): stored durably, in send order per name, and taken by the run’s\n' +
    'next wait for that name (at once if one is waiting); refused for a finished run\n' +
    `(exit 1). The payload is checked like an input, up to ${MAX_SIGNAL_PAYLOAD_BYTES.toLocaleString('en-US')} bytes of JSON.`,
  positionals: ['<id>', '<name>'],
  optionalPositionals: ['<payload>'],
  options: {
    key: { type: 'string' },
  },
  async run(context) {
    const id = runIdArgument(context);
    const checked = checkedSignal(context);
    const database = await migrated(context);
    const { sent, row } = await withTransaction(
      database.pool,
      async (executor) => {
        const result = await sendCheckedSignal(
          cliWriter(database),
          executor,
          id,
          checked,
        );
        const { rows } = await executor.query<SentSignalRow>(
          selectSentSignal(database.schema, id, result.signalId),
        );
        return { sent: result, row: rows[0]! };
      },
    ).catch((err: unknown) => {
      if (err instanceof RunNotFoundError) {
        throw runNotFound(id, database);
      }
      if (err instanceof RunFinishedError) {
        throw refused(err.message);
      }
      throw err;
    });
    const takenBy =
      row.step_index === null || row.call_index === null
        ? null
        : {
            stepIndex: row.step_index,
            stepName: row.step_name,
            callIndex: row.call_index,
          };
    const step =
      takenBy === null
        ? ''
        : `step ${takenBy.stepIndex}${takenBy.stepName === null ? '' : ` (${takenBy.stepName})`}, call ${takenBy.callIndex}`;
    const state =
      row.state === 'consumed'
        ? `taken by the wait of ${step}`
        : `pending: the run’s next wait for "${row.name}" takes it`;
    print(
      context,
      {
        runId: id,
        signalId: sent.signalId,
        name: row.name,
        duplicate: sent.duplicate,
        state: row.state,
        consumedBy: takenBy,
      },
      sent.duplicate
        ? `Not sent again: run ${id} already has signal ${sent.signalId} ("${row.name}") with key "${checked.idempotencyKey}"; it is ${state}.\n`
        : `Signal "${row.name}" sent to run ${id}: ${sent.signalId}, ${state}.\n`,
    );
  },
};

/**
 * The signal of the command line, checked as `client.signal()` checks it
 * (nothing is written otherwise).
 * @throws CliError (exit 2) for a bad name, key or payload
 */
function checkedSignal(context: CommandContext) {
  const [, name, payloadText] = context.positionals as [
    string,
    string,
    string | undefined,
  ];
  const key = context.values.key as string | undefined;
  let payload: unknown;
  if (payloadText !== undefined) {
    try {
      payload = JSON.parse(payloadText);
    } catch (err) {
      throw usageError(
        `<payload> is not JSON (${(err as Error).message}): quote it for the shell, ` +
          `as '{"approved":true}' or '"a string"'`,
      );
    }
  }
  const keyProblem = key === undefined ? undefined : nameProblem(key);
  if (keyProblem !== undefined) {
    throw usageError(`--key ${keyProblem}`);
  }
  try {
    checkSignalName(name, '<name>');
    return checkSignal(name, payload, key ?? null, MAX_SIGNAL_PAYLOAD_BYTES);
  } catch (err) {
    if (
      err instanceof InvalidOptionsError ||
      err instanceof InvalidInputError ||
      err instanceof PayloadTooLargeError
    ) {
      throw usageError(err.message);
    }
    throw err;
  }
}
