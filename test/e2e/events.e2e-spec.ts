import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable } from '@nestjs/common';
import {
  AttemptSettlement,
  AttemptTask,
  EnqueueRequest,
  EnqueueResult,
  InvalidOptionsError,
  OnUnderwayEvent,
  Step,
  StepContext,
  StepError,
  Transition,
  UnderwayEventMap,
  UnderwayEvents,
  UnderwayInterceptor,
  Workflow,
} from '@underway/nestjs';
import { createTestApp, TestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { EventLog } from '../support/event-log';
import { deferred, waitFor } from '../support/wait-for';

// SPEC §8.1: typed events, emitted once per change after it committed, in
// the process that made it; `@OnUnderwayEvent` subscribes providers; one
// interceptor wraps every insert of runs and every attempt.

let failuresLeft = 0;

@Workflow({ name: 'events-two-steps', retry: { initialInterval: 10 } })
class TwoSteps {
  @Step()
  async first(input: { n: number }) {
    if (failuresLeft > 0) {
      failuresLeft -= 1;
      throw new Error('not yet');
    }
    return Transition.next({ n: input.n + 1 });
  }

  @Step()
  async second(input: { n: number }) {
    return Transition.complete(input.n);
  }
}

@Workflow({ name: 'events-fatal', deadLetter: 'events-dlq' })
class Fatal {
  @Step()
  async only() {
    throw StepError.fatal('nope', 'refused for good');
  }
}

const gate = deferred();
const entered = deferred();

@Workflow({ name: 'events-gated', heartbeat: '600ms' })
class Gated {
  @Step()
  async only(_input: unknown, ctx: StepContext) {
    entered.resolve();
    await Promise.race([
      gate.promise,
      new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)),
    ]);
    return Transition.complete();
  }
}

@Injectable()
class FinishedAudit {
  readonly finished: UnderwayEventMap['run:finished'][] = [];

  @OnUnderwayEvent('run:finished')
  record(event: UnderwayEventMap['run:finished']): void {
    this.finished.push(event);
  }

  @OnUnderwayEvent('run:finished')
  async fail(): Promise<void> {
    throw new Error('an audit listener that always fails');
  }
}

const tenant = new AsyncLocalStorage<string>();
const seenTenants: (string | undefined)[] = [];

@Workflow({ name: 'events-tenant' })
class TenantWorkflow {
  @Step()
  async only() {
    seenTenants.push(tenant.getStore());
    return Transition.complete();
  }
}

@Injectable()
class TenantInterceptor extends UnderwayInterceptor {
  readonly requests: EnqueueRequest[] = [];
  readonly tasks: AttemptTask[] = [];
  readonly settled: AttemptSettlement[] = [];
  refuseAttempts = 0;
  refuseEnqueue = false;

  override async enqueue(
    request: EnqueueRequest,
    next: (request: EnqueueRequest) => Promise<EnqueueResult>,
  ): Promise<EnqueueResult> {
    if (this.refuseEnqueue) {
      throw new Error('no enqueue today');
    }
    this.requests.push(request);
    return next({ ...request, carrier: { tenant: 'acme' } });
  }

  override async attempt(
    task: AttemptTask,
    next: () => Promise<AttemptSettlement>,
  ): Promise<AttemptSettlement> {
    this.tasks.push(task);
    if (this.refuseAttempts > 0) {
      this.refuseAttempts -= 1;
      throw new Error('refused by the interceptor');
    }
    const settlement = await tenant.run(task.carrier?.tenant ?? '?', next);
    this.settled.push(settlement);
    return settlement;
  }
}

/** An app whose event log starts before its worker (boot events included). */
async function appWithLog(
  options: Parameters<typeof createTestApp>[0],
): Promise<{ app: TestApp; log: EventLog }> {
  const app = await createTestApp({ ...options, init: false });
  const log = new EventLog(app.get(UnderwayEvents));
  await app.app.init();
  return { app, log };
}

describe('UnderwayEvents', () => {
  it('announces an enqueue once the caller’s transaction commits, and never one that rolled back', async () => {
    const { app, log } = await appWithLog({
      workflows: [TwoSteps],
      underway: { runtime: false },
    });
    let seenInside = -1;
    const run = await app.dataSource.transaction(async (manager) => {
      const enqueued = await app.client.enqueue(
        TwoSteps,
        { n: 1 },
        { manager },
      );
      seenInside = log.of('run:enqueued').length;
      return enqueued;
    });
    expect(seenInside).toBe(0);
    expect(log.of('run:enqueued')).toEqual([
      { runIds: [run.id], workflowName: 'events-two-steps', source: 'client' },
    ]);

    await expect(
      app.dataSource.transaction(async (manager) => {
        await app.client.enqueue(TwoSteps, { n: 2 }, { manager });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    // A savepoint rolled back inside a committed transaction drops its enqueue too.
    await app.dataSource.transaction(async (outer) => {
      await outer
        .transaction(async (inner) => {
          await app.client.enqueue(TwoSteps, { n: 3 }, { manager: inner });
          throw new Error('roll back the savepoint');
        })
        .catch(() => undefined);
    });
    const many = await app.client.enqueueMany(TwoSteps, [{ n: 4 }, { n: 5 }]);
    expect(log.of('run:enqueued')).toEqual([
      { runIds: [run.id], workflowName: 'events-two-steps', source: 'client' },
      {
        runIds: many.map((r) => r.id),
        workflowName: 'events-two-steps',
        source: 'client',
      },
    ]);
    const [counted] = await query<{ count: string }>(
      `select count(*) from ${app.schema}.workflow_run`,
    );
    expect(Number(counted!.count)).toBe(3);
  });

  it('announces each attempt (started, settled with its outcome and error) and the finished run', async () => {
    failuresLeft = 1;
    const { app, log } = await appWithLog({
      workflows: [TwoSteps],
      providers: [FinishedAudit],
    });
    const run = await app.client.enqueue(TwoSteps, { n: 1 });
    await expect(run.result({ timeout: 10_000 })).resolves.toBe(2);
    const finished = await log.next('run:finished', { runId: run.id });
    expect(finished).toEqual({
      runId: run.id,
      workflowName: 'events-two-steps',
      state: 'succeeded',
    });

    const attempts = log.events
      .filter((e) => e.name.startsWith('attempt:'))
      .map((e) => {
        const p = e.payload as UnderwayEventMap['attempt:settled'];
        return [e.name, p.step, p.attempt, p.outcome ?? null];
      });
    expect(attempts).toEqual([
      ['attempt:started', 'first', 1, null],
      ['attempt:settled', 'first', 1, 'retry'],
      ['attempt:started', 'first', 2, null],
      ['attempt:settled', 'first', 2, 'next'],
      ['attempt:started', 'second', 1, null],
      ['attempt:settled', 'second', 1, 'completed'],
    ]);
    const [retried] = log.of('attempt:settled');
    expect(retried).toMatchObject({
      runId: run.id,
      workflowName: 'events-two-steps',
      kind: 'step',
      error: { code: 'error', message: 'not yet', name: 'Error' },
    });
    expect(retried!.durationMs).toBeGreaterThanOrEqual(0);
    // The decorated provider got it too; its failing sibling was only logged.
    const audit = app.get(FinishedAudit);
    await waitFor(() => audit.finished.length === 1);
    expect(audit.finished).toEqual([finished]);
    expect(
      app.logs
        .messages('error')
        .some((line) =>
          line.includes(
            'A listener of "run:finished" failed: an audit listener that always fails',
          ),
        ),
    ).toBe(true);
  });

  it('announces a run finished by a fatal error, by a cancel, and by the lease rescuer', async () => {
    const { app, log } = await appWithLog({ workflows: [Fatal, Gated] });
    const fatal = await app.client.enqueue(Fatal, undefined);
    await expect(
      log.next('run:finished', { runId: fatal.id }),
    ).resolves.toEqual({
      runId: fatal.id,
      workflowName: 'events-fatal',
      state: 'failed',
    });
    await expect(
      log.next('attempt:settled', { runId: fatal.id }),
    ).resolves.toMatchObject({
      outcome: 'failed',
      error: { code: 'nope', message: 'refused for good' },
    });

    const gated = await app.client.enqueue(Gated, undefined);
    await entered.promise;
    await app.client.cancel(gated.id);
    await expect(
      log.next('run:finished', { runId: gated.id }),
    ).resolves.toEqual({
      runId: gated.id,
      workflowName: 'events-gated',
      state: 'cancelled',
    });
    // The attempt it interrupted settles as cancelled: nothing it did was kept.
    await expect(
      log.next('attempt:settled', { runId: gated.id }),
    ).resolves.toMatchObject({ outcome: 'cancelled', step: 'only' });

    // A run whose worker vanished on its last attempt: the rescuer fails it.
    const [inserted] = await query<{ id: string }>(
      `insert into ${app.schema}.workflow_run
         (id, workflow_name, state, attempt, max_attempts, lease_ms, run_at,
          lease_expires_at, lease_owner, ttl_ms, priority, run_priority)
       values (gen_random_uuid(), 'events-fatal', 'running', 1, 1, 1000, now(),
          now() - interval '1 second', 'a-dead-worker', 60000, 0, 0)
       returning id`,
    );
    const id = inserted!.id;
    await expect(log.next('run:finished', { runId: id })).resolves.toEqual({
      runId: id,
      workflowName: 'events-fatal',
      state: 'failed',
    });
  });

  it('announces schedule fires and redrives as enqueues of their own source', async () => {
    const { app, log } = await appWithLog({ workflows: [TwoSteps, Fatal] });
    await app.client.schedule(TwoSteps, '* * * * * *', { n: 1 }, { key: 'k' });
    const fired = await log.next('schedule:fired', { key: 'k' });
    expect(fired.workflowName).toBe('events-two-steps');
    expect(fired.fireAt).toBeInstanceOf(Date);
    expect(
      log.of('run:enqueued').find((e) => e.runIds[0] === fired.runId),
    ).toEqual({
      runIds: [fired.runId],
      workflowName: 'events-two-steps',
      source: 'schedule',
    });
    await app.client.unschedule(TwoSteps, { key: 'k' });

    const failed = await app.client.enqueue(Fatal, undefined);
    await log.next('run:finished', { runId: failed.id });
    const [redriven] = await app.client.redrive('events-dlq');
    await expect(
      log.next('run:enqueued', { source: 'redrive' }),
    ).resolves.toEqual({
      runIds: [redriven!.id],
      workflowName: 'events-fatal',
      source: 'redrive',
    });
  });

  it('announces the listener lost and connected again', async () => {
    const { log } = await appWithLog({
      workflows: [TwoSteps],
      underway: {
        runtime: { instanceName: 'events-listen' },
        reconnectBackoff: { initial: 50, max: 50 },
      },
    });
    await log.next('listener:connected');
    await waitFor(async () => {
      const rows = await query(
        `select pg_terminate_backend(pid) from pg_stat_activity
         where application_name = 'underway:events-listen:listen'`,
      );
      return rows.length > 0;
    });
    const lost = await log.next('listener:lost');
    expect(lost.error).toBeInstanceOf(Error);
    await waitFor(() => log.of('listener:connected').length === 2);
    expect(
      log.events
        .map((e) => e.name)
        .filter((name) => name.startsWith('listener:')),
    ).toEqual(['listener:connected', 'listener:lost', 'listener:connected']);
  });

  it('announces a lost lease, instead of a settled attempt', async () => {
    const { app, log } = await appWithLog({ workflows: [Gated] });
    const run = await app.client.enqueue(Gated, undefined);
    await log.next('attempt:started', { runId: run.id });
    // Another worker's claim: the fence moves on, so this one's renewal fails.
    await query(
      `update ${app.schema}.workflow_run set fence = fence + 1 where id = $1`,
      [run.id],
    );
    await expect(log.next('lease:lost', { runId: run.id })).resolves.toEqual({
      runId: run.id,
      step: 'only',
      attempt: 1,
    });
    expect(log.of('attempt:settled')).toEqual([]);
  });

  it('refuses an unknown event name', async () => {
    const { app } = await appWithLog({
      workflows: [TwoSteps],
      underway: { runtime: false },
    });
    expect(() =>
      app.get(UnderwayEvents).on('run:done' as 'run:finished', () => undefined),
    ).toThrow(InvalidOptionsError);
  });
});

describe('UnderwayInterceptor', () => {
  it('wraps every insert and every attempt; what it stores reaches the attempt', async () => {
    const { app } = await appWithLog({
      workflows: [TenantWorkflow],
      providers: [TenantInterceptor],
    });
    const interceptor = app.get(TenantInterceptor);
    seenTenants.length = 0;
    const run = await app.client.enqueue(TenantWorkflow, undefined);
    await run.result({ timeout: 10_000 });
    expect(interceptor.requests).toEqual([
      {
        workflowName: 'events-tenant',
        source: 'client',
        count: 1,
        carrier: null,
      },
    ]);
    const [row] = await query<{ trace_context: unknown }>(
      `select trace_context from ${app.schema}.workflow_run where id = $1`,
      [run.id],
    );
    expect(row!.trace_context).toEqual({ tenant: 'acme' });
    expect(interceptor.tasks).toEqual([
      {
        runId: run.id,
        workflowName: 'events-tenant',
        step: 'only',
        kind: 'step',
        attempt: 1,
        stepIndex: 0,
        carrier: { tenant: 'acme' },
      },
    ]);
    expect(seenTenants).toEqual(['acme']);
    expect(interceptor.settled).toEqual([{ outcome: 'completed' }]);
  });

  it('makes a throw before next() the attempt’s error, retried, and an enqueue’s refusal the caller’s', async () => {
    const { app, log } = await appWithLog({
      workflows: [TenantWorkflow],
      providers: [TenantInterceptor],
    });
    const interceptor = app.get(TenantInterceptor);
    interceptor.refuseAttempts = 1;
    const run = await app.client.enqueue(TenantWorkflow, undefined);
    await run.result({ timeout: 10_000 });
    expect(
      log.of('attempt:settled').map((e) => [e.attempt, e.outcome]),
    ).toEqual([
      [1, 'retry'],
      [2, 'completed'],
    ]);
    const details = await app.client.getRun(run.id);
    expect(details!.attempts[0]!.error).toMatchObject({
      message: 'refused by the interceptor',
    });

    interceptor.refuseEnqueue = true;
    await expect(app.client.enqueue(TenantWorkflow, undefined)).rejects.toThrow(
      'no enqueue today',
    );
    const [counted] = await query<{ count: string }>(
      `select count(*) from ${app.schema}.workflow_run`,
    );
    expect(Number(counted!.count)).toBe(1);
  });
});
