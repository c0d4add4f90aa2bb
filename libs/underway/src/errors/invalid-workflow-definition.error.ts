import { UnderwayError } from './underway.error';

/**
 * A `@Workflow` class cannot be registered: no `@Step`, a request-scoped
 * provider, a bad decorator option… Thrown at boot, naming the class (and method).
 *
 * @publicApi
 */
export class InvalidWorkflowDefinitionError extends UnderwayError {
  readonly code = 'invalid_workflow_definition';

  constructor(
    /** `ClassName` or `ClassName.method`. */
    readonly target: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${target}: ${problem}`, options);
  }
}
