import type { EntityManager } from 'typeorm';
import { ActivityContext, runInActivity } from './current-activity';
import { serializePayload } from '../common/json-payload';
import type {
  ActivityDefinition,
  WorkflowDefinition,
} from '../discovery/workflow-definition';
import type { WorkflowRegistry } from '../discovery/workflow.registry';
import { classifyError, fatalError } from '../errors/classify-error';
import type { ActivityOutcome, ClaimedCall } from '../model/claim';
import type { StepAbort } from './step-abort';
import { invokeAbortable } from './invoke';
import type {
  AttemptFailer,
  FoundTask,
  StartedAttempt,
  TaskKind,
} from './attempt-pipeline';

/** An activity found in the registry. */
interface FoundCall extends FoundTask {
  readonly definition: WorkflowDefinition;
  readonly activity: ActivityDefinition;
}

/** The `@Activity` of `definition` whose durable name is `name`. */
export function findActivity(
  definition: WorkflowDefinition,
  name: string,
): ActivityDefinition | undefined {
  for (const activity of definition.activities.values()) {
    if (activity.name === name) {
      return activity;
    }
  }
  return undefined;
}

/**
 * Activity calls, as the attempt pipeline runs them: the method with its
 * recorded arguments, inside its `currentActivity()` context, and what it
 * returned stored as the call's result.
 */
export class CallKind implements TaskKind<
  ClaimedCall,
  ActivityOutcome,
  FoundCall
> {
  readonly noun = 'Activity';

  constructor(
    private readonly registry: WorkflowRegistry,
    private readonly maxPayloadBytes: number,
  ) {}

  labelOf(claim: ClaimedCall): string {
    return `${claim.workflowName} activity ${claim.name} (${claim.callKind} ${claim.callIndex} of step ${claim.stepIndex})`;
  }

  find(
    claim: ClaimedCall,
  ): FoundCall | { readonly missing: ReturnType<typeof fatalError> } {
    const definition = this.registry.find(
      claim.workflowName,
      claim.workflowVersion,
    );
    const activity = definition && findActivity(definition, claim.name);
    if (!definition || !activity) {
      return {
        missing: fatalError(
          'invalid_activity',
          `Activity "${claim.name}" of workflow "${claim.workflowName}" version ${claim.workflowVersion} is ` +
            (definition
              ? 'not an @Activity() here; was it renamed (its @Activity({ name }) changed) while calls were in flight?'
              : 'not registered here'),
        ),
      };
    }
    return {
      label: this.labelOf(claim),
      retry: activity.policy.retry,
      timeoutMs: activity.policy.timeoutMs,
      transactional: activity.transactional,
      definition,
      activity,
    };
  }

  start(
    claim: ClaimedCall,
    found: FoundCall,
    controller: StepAbort,
    manager: EntityManager | undefined,
  ): StartedAttempt<ActivityOutcome> {
    const context: ActivityContext = Object.freeze({
      runId: claim.runId,
      workflowName: claim.workflowName,
      activityName: claim.name,
      kind: claim.callKind,
      stepIndex: claim.stepIndex,
      callIndex: claim.callIndex,
      attempt: claim.attempt,
      maxAttempts: claim.maxAttempts,
      get signal(): AbortSignal {
        return controller.signal;
      },
      manager,
    });
    return new CallAttempt(
      found,
      JSON.parse(claim.args) as unknown[],
      context,
      controller,
      this.maxPayloadBytes,
    );
  }
}

/** One attempt of an activity call: its context, and what becomes of its result. */
class CallAttempt implements StartedAttempt<ActivityOutcome> {
  constructor(
    private readonly found: FoundCall,
    private readonly args: unknown[],
    private readonly context: ActivityContext,
    private readonly controller: StepAbort,
    private readonly maxPayloadBytes: number,
  ) {}

  invoke(): Promise<unknown> {
    return runInActivity(this.context, () =>
      invokeAbortable(
        this.found.definition.instance,
        this.found.activity.method,
        this.args,
        this.controller,
      ),
    );
  }

  succeeded(
    value: unknown,
    failer: AttemptFailer<ActivityOutcome>,
  ): ActivityOutcome {
    try {
      return {
        kind: 'succeed',
        result: serializePayload(
          value,
          this.maxPayloadBytes,
          'activity result',
        ),
      };
    } catch (err) {
      // A result that cannot be stored will not become storable on retry.
      return failer.fail({ ...classifyError(err), retryable: false });
    }
  }
}
