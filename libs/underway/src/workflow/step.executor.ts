import type {
  StepDefinition,
  WorkflowDefinition,
} from '../discovery/workflow-definition';
import type { StepAbort } from './step-abort';
import type { StepContext } from './step-context';

/**
 * Invokes one `@Step` method on its Nest-managed instance. Settles with the
 * method's result, or rejects with the abort reason as soon as `abort` fires
 * (timeout, lost lease, cancel, shutdown) even if the method ignores it; its
 * late result or error is then dropped.
 */
export function invokeStep(
  definition: WorkflowDefinition,
  step: StepDefinition,
  input: unknown,
  ctx: StepContext,
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
      const method = (definition.instance as Record<string, unknown>)[
        step.method
      ] as (input: unknown, ctx: StepContext) => unknown;
      result = Promise.resolve(method.call(definition.instance, input, ctx));
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
