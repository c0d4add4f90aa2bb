import type {
  StepDefinition,
  WorkflowDefinition,
} from '../discovery/workflow-definition';
import type { StepContext } from './step-context';

/**
 * Invokes one `@Step` method on its Nest-managed instance. Settles with the
 * method's result, or rejects with `signal.reason` as soon as the signal aborts
 * (timeout, lost lease, cancel, shutdown) even if the method ignores it; its
 * late result or error is then dropped.
 */
export function invokeStep(
  definition: WorkflowDefinition,
  step: StepDefinition,
  input: unknown,
  ctx: StepContext,
): Promise<unknown> {
  const { signal } = ctx;
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
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
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
