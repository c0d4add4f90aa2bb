/**
 * The examples of docs/testing.md, compiled by `npm run typecheck`. Keep them
 * in sync with it; the declarations at the top stand in for the app's code.
 */
import { INestApplication, Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  Activity,
  ActivityError,
  defineSignal,
  Step,
  StepContext,
  Transition,
  UNDERWAY_MODULE_OPTIONS,
  UnderwayEventMap,
  UnderwayEvents,
  Workflow,
  WorkflowIO,
  WorkflowRun,
  WorkflowRunFailedError,
} from '@underway/nestjs';
import {
  createUnderwayTestKit,
  UnderwayTestKit,
} from '@underway/nestjs/testing';

// --- stand-ins for the app's own code -------------------------------------
@Module({})
class AppModule {}
const Approval = defineSignal<{ approved: boolean; by: string }>('approval');
const Rejection = defineSignal<{ reason: string }>('rejection');
interface Expense {
  id: number;
  cents: number;
}
@Workflow({ name: 'expense' })
class ExpenseWorkflow {
  @Step()
  async decide(input: Expense, ctx: StepContext<ExpenseWorkflow>) {
    const answer = await ctx.waitForAny(
      { approved: Approval, rejected: Rejection },
      { timeout: '3d' },
    );
    if (answer === null) {
      return Transition.next({ ...input, escalate: true });
    }
    return answer.name === 'rejected'
      ? Transition.complete({ rejected: answer.payload.reason })
      : Transition.complete({ approvedBy: answer.payload.by });
  }
}
interface ChargeInvoice {
  invoiceId: number;
}
interface InvoiceReceipt {
  invoiceId: number;
  receipt: string;
}
@Workflow({ name: 'charge-invoice' })
class ChargeInvoiceWorkflow extends WorkflowIO<ChargeInvoice, InvoiceReceipt> {
  @Activity()
  async chargeCard(customer: string, cents: number): Promise<string> {
    return `ch_${customer}_${cents}`;
  }
  @Step()
  async charge(input: ChargeInvoice, ctx: StepContext<ChargeInvoiceWorkflow>) {
    const receipt = await ctx.call('chargeCard', 'ada', 1);
    return Transition.complete({ ...input, receipt });
  }
}
@Injectable()
class InvoicesService {
  create(_dto: {
    customer: string;
    cents: number;
  }): Promise<{ run: WorkflowRun<InvoiceReceipt> }> {
    throw new Error('a stand-in');
  }
}
class ConfigService {
  get<T>(_key: string, fallback: T): T {
    return fallback;
  }
}

// --- docs/testing.md ---------------------------------------------------------
export async function overridden() {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
    .overrideProvider(UNDERWAY_MODULE_OPTIONS)
    .useValue({
      schema: `underway_test_${process.env.JEST_WORKER_ID ?? 1}`, // one per Jest worker
      shutdownTimeout: '1s', // app.close() does not wait 30 s for a stuck step
      defaults: { retry: { initialInterval: 10 } }, // retries 10 ms apart, not 1 s
    })
    .compile();
  return moduleRef;
}

export async function fromTheAppsOwn() {
  return Test.createTestingModule({ imports: [AppModule] })
    .overrideProvider(UNDERWAY_MODULE_OPTIONS)
    .useFactory({
      factory: (config: ConfigService) => ({
        schema: config.get('UNDERWAY_SCHEMA', 'underway_test'),
      }),
      inject: [ConfigService],
    })
    .compile();
}

export function nextFire(app: INestApplication) {
  const events = app.get(UnderwayEvents);
  const fired = new Promise<UnderwayEventMap['schedule:fired']>((resolve) => {
    const off = events.on('schedule:fired', (event) => {
      off();
      resolve(event);
    });
  });
  return fired;
}

// --- docs/testing.md: the testing kit --------------------------------------
describe('expenses and invoices (e2e)', () => {
  let app: INestApplication;
  let kit: UnderwayTestKit;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      .overrideProvider(UNDERWAY_MODULE_OPTIONS)
      .useValue({
        schema: `underway_test_${process.env.JEST_WORKER_ID ?? 1}`, // one per Jest worker
        runtime: 'manual', // no worker: the kit runs the work
      })
      .compile();
    app = moduleRef.createNestApplication({ logger: ['warn', 'error'] });
    await app.init();
    kit = createUnderwayTestKit(app); // or app.get(UnderwayTestKit)
  });

  afterEach(() => kit.restoreActivities());

  afterAll(async () => {
    await app.close();
  });

  it('resumes an expense once it is approved', async () => {
    const run = await kit.client.enqueue(ExpenseWorkflow, {
      id: 1,
      cents: 12_000,
    });
    await kit.drain(); // runs what is due: the step now waits for an answer
    expect((await kit.client.getRun(run.id))?.waits[0]?.names).toEqual([
      'approval',
      'rejection',
    ]);

    await kit.signal(run.id, Approval, { approved: true, by: 'ada' });
    const finished = kit.events.next('run:finished', { runId: run.id });
    expect(await kit.finish(run)).toEqual({ approvedBy: 'ada' });
    expect((await finished).state).toBe('succeeded');
  });

  it('escalates an expense nobody answers for 3 days, then closes it a day later', async () => {
    // Enqueues, drains, and moves the clock to each timeout and sleep.
    const output = await kit.runToCompletion(ExpenseWorkflow, {
      id: 2,
      cents: 500,
    });
    expect(output).toEqual({ approvedBy: null, id: 2 });
  });

  it('charges an invoice with the payment provider mocked', async () => {
    kit.mockActivity(
      ChargeInvoiceWorkflow,
      'chargeCard',
      async (customer, cents) => `ch_test_${customer}_${cents}`,
    );
    const { run } = await app
      .get(InvoicesService)
      .create({ customer: 'ada', cents: 4200 });
    expect(await kit.finish(run)).toEqual({
      invoiceId: expect.any(Number),
      receipt: 'ch_test_ada_4200',
    });
  });

  it('fails the run when the card is declined', async () => {
    kit.mockActivity(ChargeInvoiceWorkflow, 'chargeCard', () => {
      throw ActivityError.fatal('card_declined', 'declined');
    });
    const { run } = await app
      .get(InvoicesService)
      .create({ customer: 'bob', cents: 100 });
    await expect(kit.finish(run)).rejects.toBeInstanceOf(
      WorkflowRunFailedError,
    );
  });
});
