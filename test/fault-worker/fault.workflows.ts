import type { Type } from '@nestjs/common';
import {
  Step,
  StepContext,
  StepError,
  Transition,
  Workflow,
} from '@underway/nestjs';
import type { FaultInput, FaultOutput } from './protocol';

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

/** What a child registers unless told otherwise: everything but the ghost. */
export const DEFAULT_CHILD_WORKFLOWS = [
  'fault-chain',
  'fault-single',
  'fault-fragile',
  'fault-timeout',
  'fault-ephemeral',
];
