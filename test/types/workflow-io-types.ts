/**
 * Type tests for a workflow's declared input and output (`WorkflowIO`),
 * checked by `npm run typecheck` (part of `npm test`): every
 * `@ts-expect-error` below must be an error, or the check fails ("unused
 * directive"), and every `Equals` must hold.
 */
import { Injectable } from '@nestjs/common';
import {
  Activity,
  Step,
  StepContext,
  Transition,
  Workflow,
  WorkflowClient,
  WorkflowInput,
  WorkflowIO,
  WorkflowOutput,
  WorkflowRun,
} from '@underway/nestjs';

/** `true` when A and B are the same type (not merely assignable). */
type Equals<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2
    ? true
    : false;

interface Invoice {
  invoiceId: number;
  cents: number;
}
interface Receipt {
  receiptId: string;
}

@Injectable()
class Ledger {
  record(_cents: number): Promise<string> {
    return Promise.resolve('r-1');
  }
}

// A decorated class with constructor injection, an activity and a typed ctx.
@Workflow({ name: 'typed-invoice' })
export class InvoiceWorkflow extends WorkflowIO<Invoice, Receipt> {
  constructor(private readonly ledger: Ledger) {
    super();
  }

  @Activity()
  async record(cents: number): Promise<string> {
    return this.ledger.record(cents);
  }

  @Step()
  async charge(input: Invoice, ctx: StepContext<InvoiceWorkflow>) {
    // The declaration adds no name ctx.call accepts.
    const receiptId = await ctx.call('record', input.cents);
    const typed: string = receiptId;
    return Transition.complete<Receipt>({ receiptId: typed });
  }
}

// A workflow run without input (a scheduled report, say).
@Workflow({ name: 'typed-report' })
export class ReportWorkflow extends WorkflowIO<void, { rows: number }> {
  @Step()
  async build() {
    return Transition.complete({ rows: 1 });
  }
}

// A workflow that declares nothing: today's loose types.
@Workflow({ name: 'untyped-invoice' })
export class UntypedWorkflow {
  @Step()
  async charge(_input: Invoice) {
    return Transition.complete();
  }
}

// A class with a base of its own declares its types by declaration merging.
abstract class AuditedBase {
  protected audit(): void {}
}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type -- the documented way for a class that extends another
export interface MergedWorkflow extends WorkflowIO<{ id: string }, number> {}
@Workflow({ name: 'typed-merged' })
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- see above
export class MergedWorkflow extends AuditedBase {
  @Step()
  async only(_input: { id: string }) {
    this.audit();
    return Transition.complete(1);
  }
}

// @ts-expect-error implements only checks a class: the types must come by extends
export class ImplementsOnly implements WorkflowIO<Invoice, Receipt> {}

// The helper types, from the class or its instance type.
const inputOfInstance: Equals<WorkflowInput<InvoiceWorkflow>, Invoice> = true;
const inputOfClass: Equals<
  WorkflowInput<typeof InvoiceWorkflow>,
  Invoice
> = true;
const outputOfInstance: Equals<WorkflowOutput<InvoiceWorkflow>, Receipt> = true;
const outputOfClass: Equals<
  WorkflowOutput<typeof InvoiceWorkflow>,
  Receipt
> = true;
const mergedInput: Equals<WorkflowInput<MergedWorkflow>, { id: string }> = true;
const undeclaredInput: Equals<WorkflowInput<UntypedWorkflow>, unknown> = true;
const undeclaredOutput: Equals<WorkflowOutput<UntypedWorkflow>, unknown> = true;
const nameInput: Equals<WorkflowInput<'typed-invoice'>, unknown> = true;
const nameOutput: Equals<WorkflowOutput<string>, unknown> = true;

export async function typedClient(client: WorkflowClient) {
  // enqueue: the declared input is checked, the output typed.
  const run = await client.enqueue(InvoiceWorkflow, { invoiceId: 1, cents: 5 });
  const runType: Equals<typeof run, WorkflowRun<Receipt>> = true;
  const receipt = await run.result({ timeout: 1_000 });
  const resultType: Equals<typeof receipt, Receipt> = true;
  // @ts-expect-error a wrong input
  await client.enqueue(InvoiceWorkflow, { nope: true });
  // @ts-expect-error a property the input does not have
  await client.enqueue(InvoiceWorkflow, { invoiceId: 1, cents: 5, nope: 1 });
  // @ts-expect-error a property of the wrong type
  await client.enqueue(InvoiceWorkflow, { invoiceId: '1', cents: 5 });
  // @ts-expect-error the input is required
  await client.enqueue(InvoiceWorkflow);
  await client.enqueue(
    InvoiceWorkflow,
    { invoiceId: 1, cents: 5 },
    // @ts-expect-error the options are checked too
    { nope: 1 },
  );
  await client.enqueue(
    InvoiceWorkflow,
    { invoiceId: 1, cents: 5 },
    { delay: '1m', idempotencyKey: 'invoice:1' },
  );
  // @ts-expect-error the output is a Receipt
  const wrong: number = await run.result();
  const input: Invoice = { invoiceId: 1, cents: 5 };
  // @ts-expect-error an annotation does not replace the declared output
  const annotated: WorkflowRun<number> = await client.enqueue(
    InvoiceWorkflow,
    input,
  );

  // A `void` input may be left out (or given as undefined).
  const report = await client.enqueue(ReportWorkflow);
  await client.enqueue(ReportWorkflow, undefined, { priority: 1 });
  const rows: number = (await report.result()).rows;
  // @ts-expect-error no input to give
  await client.enqueue(ReportWorkflow, { rows: 1 });

  // enqueueMany: every input is checked.
  const many = await client.enqueueMany(InvoiceWorkflow, [
    { invoiceId: 1, cents: 5 },
    { invoiceId: 2, cents: 6 },
  ]);
  const manyType: Equals<typeof many, WorkflowRun<Receipt>[]> = true;
  // @ts-expect-error one bad input
  await client.enqueueMany(InvoiceWorkflow, [{ invoiceId: 1, cents: 5 }, {}]);

  // schedule: the input is checked.
  await client.schedule(InvoiceWorkflow, '@daily[Europe/Paris]', {
    invoiceId: 1,
    cents: 5,
  });
  await client.schedule(ReportWorkflow, '@hourly', undefined);
  // @ts-expect-error a wrong scheduled input
  await client.schedule(InvoiceWorkflow, '@daily', { invoiceId: 1 });

  // run(): a handle from the class is typed; from a name, unknown or given.
  const handle = client.run(
    '0193a6c2-0000-7000-8000-000000000000',
    InvoiceWorkflow,
  );
  const handleType: Equals<typeof handle, WorkflowRun<Receipt>> = true;
  const byName = client.run('0193a6c2-0000-7000-8000-000000000000', 'x');
  const byNameType: Equals<typeof byName, WorkflowRun<unknown>> = true;
  const given = client.run<Receipt>(
    '0193a6c2-0000-7000-8000-000000000000',
    'x',
  );
  const givenType: Equals<typeof given, WorkflowRun<Receipt>> = true;

  // The merged declaration types the client the same way.
  const merged = await client.enqueue(MergedWorkflow, { id: 'a' });
  const mergedOutput: number = await merged.result();
  // @ts-expect-error a wrong input for the merged declaration
  await client.enqueue(MergedWorkflow, { id: 1 });

  return [
    receipt,
    many,
    handle,
    byName,
    given,
    runType,
    resultType,
    wrong,
    annotated,
    rows,
    manyType,
    handleType,
    byNameType,
    givenType,
    mergedOutput,
  ];
}

export async function looseClient(client: WorkflowClient) {
  // A name: the input is not checked, the output is unknown.
  const byName = await client.enqueue('typed-invoice', { nope: true });
  const byNameType: Equals<typeof byName, WorkflowRun<unknown>> = true;
  // @ts-expect-error unknown is not a Receipt
  const notReceipt: Receipt = await byName.result();

  // A class that declares nothing: as before.
  const untyped = await client.enqueue(UntypedWorkflow, 'anything');
  await client.enqueue(UntypedWorkflow);
  const untypedType: Equals<typeof untyped, WorkflowRun<unknown>> = true;
  await client.enqueueMany(UntypedWorkflow, [1, 'two', { three: 3 }]);
  await client.schedule(UntypedWorkflow, '@daily', { any: 'thing' });

  // The explicit output type of before still works, for both forms.
  const given = await client.enqueue<Receipt>(UntypedWorkflow, { n: 1 });
  const givenType: Equals<typeof given, WorkflowRun<Receipt>> = true;
  const givenByName = await client.enqueue<Receipt>('untyped-invoice');
  const givenMany = await client.enqueueMany<Receipt>('untyped-invoice', [1]);
  const givenManyType: Equals<typeof givenMany, WorkflowRun<Receipt>[]> = true;
  const receipt: Receipt = await givenByName.result();

  // @ts-expect-error result() takes no type argument: declare the output, or give it to enqueue
  await untyped.result<Receipt>();

  return [
    given,
    givenMany,
    byNameType,
    notReceipt,
    untypedType,
    givenType,
    givenManyType,
    receipt,
  ];
}

export const helperTypes = [
  inputOfInstance,
  inputOfClass,
  outputOfInstance,
  outputOfClass,
  mergedInput,
  undeclaredInput,
  undeclaredOutput,
  nameInput,
  nameOutput,
];
