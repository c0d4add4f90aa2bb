import { UnderwayError } from './underway.error';

/**
 * The workflow named in a client call is not registered in this application.
 *
 * @publicApi
 */
export class WorkflowNotRegisteredError extends UnderwayError {
  readonly code = 'workflow_not_registered';

  constructor(
    readonly workflowName: string,
    known: readonly string[] = [],
  ) {
    super(
      `Workflow "${workflowName}" is not registered. Add its @Workflow class to a module's providers` +
        (known.length
          ? ` (registered: ${known.map((n) => `"${n}"`).join(', ')}).`
          : ' (no workflow is registered in this application).'),
    );
  }
}
