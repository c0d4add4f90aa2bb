/**
 * Type tests for signals, checked by `npm run typecheck` (part of
 * `npm test`): every `@ts-expect-error` below must be an error, or the check
 * fails ("unused directive"). The README's "Signals" example is here too.
 */
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import {
  defineSignal,
  SignalPayload,
  Step,
  StepContext,
  Transition,
  Workflow,
  WorkflowClient,
} from '@underway/nestjs';

// --- README: Signals -----------------------------------------------------------

export const Approval = defineSignal<{ approved: boolean; by: string }>(
  'approval',
);
export const Rejection = defineSignal<{ reason: string }>('rejection');

interface Expense {
  id: number;
  cents: number;
}

@Workflow({ name: 'expense' })
export class ExpenseWorkflow {
  @Step()
  async decide(input: Expense, ctx: StepContext<ExpenseWorkflow>) {
    const answer = await ctx.waitForAny(
      { approved: Approval, rejected: Rejection },
      { timeout: '3d' },
    );
    if (answer === null) {
      return Transition.next({ ...input, escalate: true }); // nobody answered in 3 days
    }
    if (answer.name === 'rejected') {
      return Transition.complete({ rejected: answer.payload.reason });
    }
    return Transition.complete({ approvedBy: answer.payload.by });
  }

  @Step()
  async escalate(input: Expense & { escalate: true }, ctx: StepContext) {
    await ctx.sleep('1h'); // a durable sleep: no worker slot held
    const late = await ctx.waitFor(Approval, { timeout: '1d' });
    return Transition.complete({ approvedBy: late?.by ?? null, id: input.id });
  }
}

@Injectable()
export class ExpenseService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly client: WorkflowClient,
  ) {}

  async approve(expenseId: number, runId: string, by: string) {
    await this.dataSource.transaction(async (manager) => {
      await manager.query('update expense set status = $1 where id = $2', [
        'approved',
        expenseId,
      ]);
      await this.client.signal(
        runId,
        Approval,
        { approved: true, by },
        { manager, idempotencyKey: `expense:${expenseId}` },
      );
    });
  }
}

// --- Type checks ---------------------------------------------------------------

const Ping = defineSignal('ping'); // no payload
const Note = defineSignal<string>('note');

export async function typeChecks(client: WorkflowClient, ctx: StepContext) {
  // The payload type flows from the definition to the wait…
  const approval = await ctx.waitFor(Approval);
  if (approval) {
    const approved: boolean = approval.approved;
    void approved;
    // @ts-expect-error no such field in the payload
    void approval.approvedBy;
  }
  // @ts-expect-error null on timeout: not a plain payload
  const sure: { approved: boolean } = await ctx.waitFor(Approval);
  void sure;
  const note: string | null = await ctx.waitFor(Note);
  void note;

  // …and to the sender.
  await client.signal('run-id', Approval, { approved: true, by: 'ana' });
  // @ts-expect-error a payload of the wrong shape
  await client.signal('run-id', Approval, { approved: 'yes', by: 'ana' });
  // @ts-expect-error a payload is required
  await client.signal('run-id', Approval);
  // @ts-expect-error a string signal is not a number one
  await client.signal('run-id', Note, 42);
  // A signal without payload needs none.
  await client.signal('run-id', Ping);
  await client.signal(
    { workflow: ExpenseWorkflow, idempotencyKey: 'k' },
    Note,
    'hi',
  );
  // @ts-expect-error an unknown option
  await client.signal('run-id', Note, 'hi', { idempotency: 'k' });

  // waitForAny: the name is the map's key, and narrows the payload.
  const any = await ctx.waitForAny({ a: Approval, n: Note });
  if (any?.name === 'n') {
    const text: string = any.payload;
    void text;
  } else if (any?.name === 'a') {
    const by: string = any.payload.by;
    void by;
    // @ts-expect-error not a key of the map
  } else if (any?.name === 'approval') {
    void any;
  }

  // @ts-expect-error a duration, not a date
  await ctx.sleep(new Date());
  // @ts-expect-error not a signal definition
  await ctx.waitFor('approval');

  const payload: SignalPayload<typeof Approval> = { approved: true, by: 'x' };
  void payload;

  const started = await client.signalWithStart(
    ExpenseWorkflow,
    { id: 1, cents: 5 },
    Note,
    'first',
    { idempotencyKey: 'expense:1' },
  );
  const startedNow: boolean = started.started;
  void startedNow;
}
