/**
 * Type tests for `ctx.call` and `ctx.emit`, checked by `npm run typecheck`
 * (part of `npm test`): every `@ts-expect-error` below must be an error, or
 * the check fails ("unused directive").
 */
import {
  Activity,
  Step,
  StepContext,
  Transition,
  Workflow,
} from '@underway/nestjs';

interface Invoice {
  id: string;
  cents: number;
}

@Workflow({ name: 'typed-activities' })
export class TypedActivities {
  readonly label = 'not a method';

  @Activity()
  async fetchInvoice(id: string, attempt: number): Promise<Invoice> {
    return { id: `${id}-${attempt}`, cents: 100 };
  }

  @Activity()
  async countSync(): Promise<number> {
    return 1;
  }

  @Activity()
  notify(_to: string): void {
    // a synchronous activity: its result is undefined
  }

  @Step()
  async run(input: { id: string }, ctx: StepContext<TypedActivities>) {
    // The result type is inferred from the method: Promise<Invoice> gives Invoice.
    const invoice = await ctx.call('fetchInvoice', input.id, 1);
    const cents: number = invoice.cents;
    const count: number = await ctx.call('countSync');
    const nothing: void = await ctx.call('notify', 'a@b.c');
    await ctx.emit('notify', 'a@b.c');

    // @ts-expect-error a misspelled method name
    await ctx.call('fetchInvoce', input.id, 1);
    // @ts-expect-error a wrong argument type
    await ctx.call('fetchInvoice', 42, 1);
    // @ts-expect-error a missing argument
    await ctx.call('fetchInvoice', input.id);
    // @ts-expect-error one argument too many
    await ctx.call('countSync', 1);
    // @ts-expect-error emit is checked the same way
    await ctx.emit('notify', 1);
    // @ts-expect-error a member that is not a method
    await ctx.call('label');
    // @ts-expect-error the result is an Invoice, not a string
    const wrong: string = await ctx.call('fetchInvoice', input.id, 1);
    // @ts-expect-error emit resolves with nothing
    const emitted: Invoice = await ctx.emit('notify', 'a@b.c');

    // A step may return a transition built from a call's result: the step's
    // own type depends on the call, and that must not make it circular.
    return Transition.next({ cents, count, nothing, wrong, emitted });
  }

  @Step()
  async untyped(_input: unknown, ctx: StepContext) {
    // Without the workflow type, any name and arguments, and an unknown result.
    const value = await ctx.call('anything', 1, 'two');
    // @ts-expect-error unknown is not a number
    const n: number = value;
    return Transition.complete(await ctx.call('other', { n }));
  }
}
