import type {
  StepDefinition,
  WorkflowDefinition,
} from '../discovery/workflow-definition';
import type { StepAbort } from './step-abort';
import type { StepContext } from './step-context';

/**
 * Invokes one `@Step` method on its Nest-managed instance. Settles with the
 * method's result, or rejects with the abort reason as soon as `abort` fires
 * (timeout, lost lease, cancel, shutdown, suspension) even if the method
 * ignores it; its late result or error is then dropped.
 */
export function invokeStep(
  definition: WorkflowDefinition,
  step: StepDefinition,
  input: unknown,
  ctx: StepContext,
  abort: StepAbort,
): Promise<unknown> {
  return invokeAbortable(definition.instance, step.method, [input, ctx], abort);
}

/**
 * Calls `instance[method](...args)` (a step or an activity), settling as the
 * call does or rejecting with the abort reason as soon as `abort` fires.
 */
export function invokeAbortable(
  instance: object,
  method: string,
  args: readonly unknown[],
  abort: StepAbort,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (abort.aborted) {
      reject(abort.reason);
      return;
    }
    abort.onAbort(reject);
    let result: Promise<unknown>;
    try {
      const fn = (instance as Record<string, unknown>)[method] as (
        ...args: unknown[]
      ) => unknown;
      result = Promise.resolve(fn.apply(instance, args as unknown[]));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (value) => {
        abort.onAbort(undefined);
        resolve(value);
      },
      (err: unknown) => {
        abort.onAbort(undefined);
        reject(err);
      },
    );
  });
}
