import { UnderwayError } from './underway.error';

/**
 * Two `@Workflow` classes use the same name. Thrown at boot.
 *
 * @publicApi
 */
export class DuplicateWorkflowError extends UnderwayError {
  readonly code = 'duplicate_workflow';

  constructor(
    readonly workflowName: string,
    firstClass: string,
    secondClass: string,
    sameClass = firstClass === secondClass,
  ) {
    super(
      sameClass
        ? `Workflow "${workflowName}" (${firstClass}) is provided more than once. List ${firstClass} in the providers of one module only.`
        : `Workflow name "${workflowName}" is used by both ${firstClass} and ${secondClass}${firstClass === secondClass ? ' (two different classes of that name)' : ''}. Give each @Workflow a unique name.`,
    );
  }
}
