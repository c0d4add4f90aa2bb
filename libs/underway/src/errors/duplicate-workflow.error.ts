import { UnderwayError } from './underway.error';

/**
 * Two `@Workflow` classes use the same name and version. Thrown at boot.
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
    /** The version both declare, when versions are in play. */
    version?: number,
  ) {
    super(
      sameClass
        ? `Workflow "${workflowName}" (${firstClass}) is provided more than once. List ${firstClass} in the providers of one module only.`
        : version === undefined
          ? `Workflow name "${workflowName}" is used by both ${firstClass} and ${secondClass}${firstClass === secondClass ? ' (two different classes of that name)' : ''}. Give each @Workflow a unique name, or, for two versions of one workflow, a different @Workflow({ version }).`
          : `Workflow "${workflowName}" version ${version} is declared by both ${firstClass} and ${secondClass}${firstClass === secondClass ? ' (two different classes of that name)' : ''}. Give each version of a workflow its own @Workflow({ version }).`,
    );
  }
}
