import { randomUUID } from 'node:crypto';
import type { Type } from '@nestjs/common';
import {
  Activity,
  currentActivity,
  defineSignal,
  Step,
  StepContext,
  StepError,
  Transition,
  Workflow,
} from '@underway/nestjs';
import type {
  ActivityFaultInput,
  ActivityFaultOutput,
  CallResult,
  CallSpec,
  FaultInput,
  FaultOutput,
  LedgerEntry,
  TxFaultInput,
  TxWroteEvent,
} from './protocol';

/**
 * The workflows of the fault suite. The worker child registers them and runs
 * their steps; the parent test registers them too (with `runtime: false`) so
 * that it can enqueue them.
 *
 * Policies are set on the decorators, not through module defaults: a run's
 * `max_attempts` is computed by whoever enqueues (or moves) it, so parent and
 * child must agree.
 */

/** What a step does besides returning: set by the child (`main.ts`). */
export interface StepHooks {
  readonly instance: string;
  started(ctx: StepContext): void;
  /** Records the step's side effect (the `fault_effect` table). */
  effect(ctx: StepContext): Promise<void>;
  finished(ctx: StepContext): void;
  /** Writes a line of the ledger (the `fault_ledger` table), retried while the database is away. */
  record(entry: LedgerEntry): Promise<void>;
  /** The app table `fault-tx` writes through `ctx.manager` (`appRowsTable`). */
  readonly appTable: string;
  /** Prints a `tx-wrote` event. */
  wrote(event: Omit<TxWroteEvent, 'event' | 'instance' | 'pid'>): void;
}

let hooks: StepHooks | undefined;

export function setStepHooks(value: StepHooks): void {
  hooks = value;
}

let defaultSleepMs = 0;

export function setDefaultStepSleep(ms: number): void {
  defaultSleepMs = ms;
}

const FAST_RETRY = {
  initialInterval: 20,
  maxInterval: 200,
  backoffCoefficient: 2,
  jitterFactor: 0,
};

function sleepThrough(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** One step attempt: announce, misbehave as asked, record the effect. */
async function behave(input: FaultInput, ctx: StepContext): Promise<void> {
  const h = hooks;
  if (!h) {
    throw new Error('fault workflows run only in the fault worker process');
  }
  h.started(ctx);
  if (input.crash) {
    process.kill(process.pid, 'SIGKILL');
    await new Promise<never>(() => undefined);
  }
  const once =
    input.once &&
    (input.once.step ?? 0) === ctx.stepIndex &&
    (input.once.attempt ?? 1) === ctx.attempt
      ? input.once
      : undefined;
  if (once?.stopSelf) {
    await h.effect(ctx);
    process.kill(process.pid, 'SIGSTOP'); // returns once the test sends SIGCONT
    h.finished(ctx);
    return;
  }
  const sleepMs = once?.sleepMs ?? input.sleepMs ?? defaultSleepMs;
  if (sleepMs > 0) {
    await (input.ignoreSignal
      ? sleepThrough(sleepMs)
      : sleepUnless(sleepMs, ctx.signal));
  }
  switch (input.throw) {
    case undefined:
      break;
    case 'string':
      throw `poison string (attempt ${ctx.attempt})`; // eslint-disable-line @typescript-eslint/only-throw-error
    case 'object':
      throw { poison: 'object', attempt: ctx.attempt }; // eslint-disable-line @typescript-eslint/only-throw-error
    case 'undefined':
      throw undefined; // eslint-disable-line @typescript-eslint/only-throw-error
    case 'fatal':
      throw StepError.fatal('poison_fatal', 'fatal on purpose');
    default:
      throw new RangeError(`poison error (attempt ${ctx.attempt})`);
  }
  await h.effect(ctx);
  h.finished(ctx);
}

function output(ctx: StepContext): FaultOutput {
  return { by: hooks?.instance ?? '?', pid: process.pid, attempt: ctx.attempt };
}

/** Three steps: most scenarios and the chaos test. */
@Workflow({ name: 'fault-chain', retry: { ...FAST_RETRY, maxAttempts: 10 } })
export class ChainWorkflow {
  @Step()
  async first(input: FaultInput, ctx: StepContext) {
    await behave(input, ctx);
    return Transition.next(input);
  }

  @Step()
  async second(input: FaultInput, ctx: StepContext) {
    await behave(input, ctx);
    return Transition.next(input);
  }

  @Step()
  async third(input: FaultInput, ctx: StepContext) {
    await behave(input, ctx);
    return Transition.complete(output(ctx));
  }
}

/** One step, many attempts. */
@Workflow({ name: 'fault-single', retry: { ...FAST_RETRY, maxAttempts: 10 } })
export class SingleWorkflow {
  @Step()
  async only(input: FaultInput, ctx: StepContext) {
    await behave(input, ctx);
    return Transition.complete(output(ctx));
  }
}

/** One step, three attempts: poison input and crash loops. */
@Workflow({ name: 'fault-fragile', retry: { ...FAST_RETRY, maxAttempts: 3 } })
export class FragileWorkflow {
  @Step()
  async only(input: FaultInput, ctx: StepContext) {
    await behave(input, ctx);
    return Transition.complete(output(ctx));
  }
}

/** A 300 ms timeout, two attempts. */
@Workflow({
  name: 'fault-timeout',
  timeout: 300,
  retry: { ...FAST_RETRY, maxAttempts: 2 },
})
export class TimeoutWorkflow {
  @Step()
  async only(input: FaultInput, ctx: StepContext) {
    await behave(input, ctx);
    return Transition.complete(output(ctx));
  }
}

/** Kept 300 ms once finished (retention). */
@Workflow({
  name: 'fault-ephemeral',
  ttl: 300,
  retry: { ...FAST_RETRY, maxAttempts: 1 },
})
export class EphemeralWorkflow {
  @Step()
  async only(input: FaultInput, ctx: StepContext) {
    await behave(input, ctx);
    return Transition.complete(output(ctx));
  }
}

function requireHooks(): StepHooks {
  if (!hooks) {
    throw new Error('fault workflows run only in the fault worker process');
  }
  return hooks;
}

/** Records that a step body begins; returns its execution's token. */
async function stepStarted(ctx: StepContext, name: string): Promise<string> {
  const h = requireHooks();
  h.started(ctx);
  const token = randomUUID();
  await h.record({
    token,
    runId: ctx.runId,
    kind: 'step',
    step: ctx.stepIndex,
    callIndex: null,
    name,
    attempt: ctx.attempt,
    phase: 'started',
  });
  return token;
}

async function stepDone(
  ctx: StepContext,
  name: string,
  token: string,
): Promise<void> {
  const h = requireHooks();
  await h.record({
    token,
    runId: ctx.runId,
    kind: 'step',
    step: ctx.stepIndex,
    callIndex: null,
    name,
    attempt: ctx.attempt,
    phase: 'done',
  });
  await h.effect(ctx); // like every fault step's (checkEffects)
  h.finished(ctx);
}

/** One attempt of an activity call: ledger, misbehave as asked, ledger, result. */
async function activityBody(spec: CallSpec): Promise<CallResult> {
  const h = requireHooks();
  const activity = currentActivity();
  const entry = {
    token: randomUUID(),
    runId: activity.runId,
    kind: 'activity',
    step: activity.stepIndex,
    callIndex: activity.callIndex,
    name: activity.activityName,
    attempt: activity.attempt,
  } as const;
  // Recorded before anything else: a body the test sees in the ledger is
  // running (or ran), whatever happens to its process next.
  await h.record({ ...entry, phase: 'started' });
  if (spec.crash) {
    process.kill(process.pid, 'SIGKILL');
    await new Promise<never>(() => undefined);
  }
  const sleepMs =
    (spec.slowOn?.instance === h.instance ? spec.slowOn.sleepMs : undefined) ??
    (spec.once && (spec.once.attempt ?? 1) === activity.attempt
      ? spec.once.sleepMs
      : undefined) ??
    spec.sleepMs ??
    0;
  if (sleepMs > 0) {
    await sleepUnless(sleepMs, activity.signal);
  }
  await h.record({ ...entry, phase: 'done' });
  return {
    by: h.instance,
    pid: process.pid,
    attempt: activity.attempt,
    callIndex: activity.callIndex,
  };
}

/**
 * Two steps that each wait on activities: step 0 makes its calls in parallel
 * (and may emit), step 1 makes one more. Each step therefore runs twice when
 * nothing fails: once to suspend on its calls, once to replay with their
 * results. Every execution of a body, step or activity, is written to the
 * ledger (`fault_ledger`), so that tests can count them.
 */
@Workflow({
  name: 'fault-activity',
  retry: { ...FAST_RETRY, maxAttempts: 10 },
})
export class ActivityWorkflow {
  @Activity()
  async work(spec: CallSpec): Promise<CallResult> {
    return activityBody(spec);
  }

  /** Three attempts: an activity crash loop runs out of them. */
  @Activity({ retry: { maxAttempts: 3 } })
  async fragile(spec: CallSpec): Promise<CallResult> {
    return activityBody(spec);
  }

  /** Emitted (fire-and-forget). */
  @Activity()
  async note(tag: string | number | null): Promise<CallResult> {
    void tag; // only told apart in activity_call.args
    return activityBody({});
  }

  @Step()
  async fanOut(input: ActivityFaultInput, ctx: StepContext<ActivityWorkflow>) {
    const token = await stepStarted(ctx, 'fanOut');
    const results = await Promise.all(
      input.calls.map((spec) =>
        spec.fragile ? ctx.call('fragile', spec) : ctx.call('work', spec),
      ),
    );
    if (input.emit) {
      await ctx.emit('note', input.tag ?? null);
    }
    await stepDone(ctx, 'fanOut', token);
    return Transition.next({ ...input, results });
  }

  @Step()
  async finish(
    input: ActivityFaultInput & { results: CallResult[] },
    ctx: StepContext<ActivityWorkflow>,
  ) {
    const token = await stepStarted(ctx, 'finish');
    const last = await ctx.call('work', input.then ?? {});
    await stepDone(ctx, 'finish', token);
    const out: ActivityFaultOutput = {
      ...output(ctx),
      results: input.results,
      last,
    };
    return Transition.complete(out);
  }
}

/**
 * One attempt of a transactional step of `fault-tx`: inserts its rows through
 * `ctx.manager` (uncommitted until the step's outcome commits with them),
 * misbehaving in the middle as `input.once` asks, then records its side
 * effect (`fault_effect`, outside the transaction: it survives a rollback).
 */
async function writeRows(input: TxFaultInput, ctx: StepContext): Promise<void> {
  const h = requireHooks();
  const manager = ctx.manager;
  if (!manager) {
    throw new Error('fault-tx steps are transactional: ctx.manager is missing');
  }
  h.started(ctx);
  const rows = input.rows ?? 3;
  const columns = `${h.appTable} (run_id, step, attempt, instance, pid, item)`;
  const values = (item: number): unknown[] => [
    ctx.runId,
    ctx.stepIndex,
    ctx.attempt,
    h.instance,
    process.pid,
    item,
  ];
  const insert = (item: number): Promise<unknown> =>
    manager.query(
      `insert into ${columns} values ($1, $2, $3, $4, $5, $6)`,
      values(item),
    );
  const once =
    input.once &&
    (input.once.step ?? 0) === ctx.stepIndex &&
    (input.once.attempt ?? 1) === ctx.attempt
      ? input.once
      : undefined;
  const before = once
    ? Math.min(rows, once.afterRows ?? (once.then === 'stop' ? rows : 1))
    : rows;
  for (let item = 0; item < before; item += 1) {
    await insert(item);
  }
  let item = before;
  if (once) {
    const [seen] = await manager.query<{ rows: number; backendPid: number }[]>(
      `select count(*)::int as rows, pg_backend_pid() as "backendPid" from ${h.appTable}
       where run_id = $1 and step = $2 and attempt = $3 and instance = $4`,
      [ctx.runId, ctx.stepIndex, ctx.attempt, h.instance],
    );
    h.wrote({
      runId: ctx.runId,
      step: ctx.stepIndex,
      attempt: ctx.attempt,
      rows: seen?.rows ?? -1,
      backendPid: seen?.backendPid ?? -1,
      then: once.then,
    });
    const sleepMs = once.sleepMs ?? 60_000;
    switch (once.then) {
      case 'stop':
        // Like `behave`: nothing awaited after the stop, so that the resumed
        // attempt goes straight to its (fenced) commit.
        await h.effect(ctx);
        process.kill(process.pid, 'SIGSTOP'); // returns once the test sends SIGCONT
        h.finished(ctx);
        return;
      case 'sleep':
        await sleepUnless(sleepMs, ctx.signal);
        break;
      case 'slowWrite':
        await manager.query(
          `insert into ${columns} select $1, $2, $3, $4, $5, $6 from pg_sleep($7)`,
          [...values(item), sleepMs / 1_000],
        );
        item += 1;
        break;
    }
  }
  for (; item < rows; item += 1) {
    await insert(item);
  }
  await h.effect(ctx);
  h.finished(ctx);
}

/**
 * Two transactional steps, each writing app rows through `ctx.manager`
 * (`appRowsTable`) that commit with its outcome: fault scenarios with app
 * rows counted. A worker registering it needs the app's DataSource (main.ts
 * then imports TypeOrmModule).
 */
@Workflow({ name: 'fault-tx', retry: { ...FAST_RETRY, maxAttempts: 10 } })
export class TransactionalWorkflow {
  @Step({ transactional: true })
  async write(input: TxFaultInput, ctx: StepContext) {
    await writeRows(input, ctx);
    return Transition.next(input);
  }

  @Step({ transactional: true })
  async seal(input: TxFaultInput, ctx: StepContext) {
    await writeRows(input, ctx);
    return Transition.complete(output(ctx));
  }
}

/** What a `fault-parent` run fans out to: `children` runs of `fault-single`. */
export interface ParentFaultInput {
  readonly children: number;
  /** Each child's step sleeps this long. */
  readonly sleepMs?: number;
}

/**
 * One step that fans out to `fault-single` children and waits for them all:
 * scenario 18. Its executions are in the ledger (`started`, `done`), like
 * `fault-activity`'s steps.
 */
@Workflow({ name: 'fault-parent', retry: { ...FAST_RETRY, maxAttempts: 10 } })
export class ParentFaultWorkflow {
  @Step()
  async fan(input: ParentFaultInput, ctx: StepContext) {
    const token = await stepStarted(ctx, 'fan');
    const outputs = await Promise.all(
      Array.from({ length: input.children }, (_, tag) =>
        ctx.child(SingleWorkflow, { sleepMs: input.sleepMs ?? 0, tag }),
      ),
    );
    await stepDone(ctx, 'fan', token);
    return Transition.complete({ children: outputs.length });
  }
}

/** The signal `fault-signal` waits for. */
export const FaultPing = defineSignal<{ n: number }>('fault-ping');

/** What a `fault-signal` run does: wait for `FaultPing` (with a timeout, or not), or sleep. */
export interface SignalFaultInput {
  readonly mode: 'wait' | 'timeout' | 'sleep';
  /** The timeout of `timeout`, the duration of `sleep`. */
  readonly ms?: number;
}

/**
 * One step that suspends on a signal, a timed wait or a durable sleep, then
 * completes with what it got: scenario 20.
 */
@Workflow({ name: 'fault-signal', retry: { ...FAST_RETRY, maxAttempts: 10 } })
export class SignalFaultWorkflow {
  @Step()
  async wait(input: SignalFaultInput, ctx: StepContext) {
    if (input.mode === 'sleep') {
      await ctx.sleep(input.ms ?? 0);
      return Transition.complete({ slept: true });
    }
    const ping = await ctx.waitFor(
      FaultPing,
      input.mode === 'timeout' ? { timeout: input.ms ?? 0 } : {},
    );
    return Transition.complete({ got: ping === null ? null : ping.n });
  }
}

/** Registered by the parent only: no worker process can run it. */
@Workflow({ name: 'fault-ghost' })
export class GhostWorkflow {
  @Step()
  async only() {
    return Transition.complete();
  }
}

export const FAULT_WORKFLOWS: readonly Type[] = [
  ChainWorkflow,
  SingleWorkflow,
  FragileWorkflow,
  TimeoutWorkflow,
  EphemeralWorkflow,
  ActivityWorkflow,
  TransactionalWorkflow,
  SignalFaultWorkflow,
  ParentFaultWorkflow,
  GhostWorkflow,
];

/** Workflow name → class. */
export function faultWorkflowsNamed(names: readonly string[]): Type[] {
  const byName = new Map<string, Type>([
    ['fault-chain', ChainWorkflow],
    ['fault-single', SingleWorkflow],
    ['fault-fragile', FragileWorkflow],
    ['fault-timeout', TimeoutWorkflow],
    ['fault-ephemeral', EphemeralWorkflow],
    ['fault-activity', ActivityWorkflow],
    ['fault-tx', TransactionalWorkflow],
    ['fault-signal', SignalFaultWorkflow],
    ['fault-parent', ParentFaultWorkflow],
    ['fault-ghost', GhostWorkflow],
  ]);
  return names.map((name) => {
    const type = byName.get(name);
    if (!type) {
      throw new Error(`No fault workflow is named "${name}"`);
    }
    return type;
  });
}

/** What a child registers unless told otherwise: everything but the ghost and `fault-tx`. */
export const DEFAULT_CHILD_WORKFLOWS = [
  'fault-chain',
  'fault-single',
  'fault-fragile',
  'fault-timeout',
  'fault-ephemeral',
];

/** Workflows with transactional steps: a child registering one imports TypeOrmModule (main.ts). */
export const TRANSACTIONAL_WORKFLOWS: readonly string[] = ['fault-tx'];

/** The defaults and `fault-tx`: for the transactional scenarios. */
export const WITH_TRANSACTIONS = [...DEFAULT_CHILD_WORKFLOWS, 'fault-tx'];

/** The defaults and `fault-activity`: for the activity scenarios and the chaos test. */
export const WITH_ACTIVITIES = [...DEFAULT_CHILD_WORKFLOWS, 'fault-activity'];
