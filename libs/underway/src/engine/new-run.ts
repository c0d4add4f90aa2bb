import { uuidv7 } from '../common/uuid';
import type { WorkflowDefinition } from '../discovery/workflow-definition';
import type { NewRun } from './sql/admin.sql';

/** When and how a new run enters its first step; every field already checked. */
export interface NewRunOptions {
  /** `undefined`: the first step's own delay (or none with `runAt`). */
  readonly delayMs?: number | undefined;
  readonly runAt?: Date | undefined;
  /** `undefined`: the workflow's priority. */
  readonly priority?: number | undefined;
  readonly concurrencyKey?: string | null;
  readonly idempotencyKey?: string | null;
}

/**
 * The row of a new run of `definition` at its first step: the one place that
 * derives a run's attempts, lease, priorities and due time from the
 * workflow's resolved definition (enqueue, enqueueMany, redrive and the
 * scheduler use it). Pure, but for the new run id.
 *
 * @param input the run's input, already serialized (`serializePayload`)
 */
export function newRunOf(
  definition: WorkflowDefinition,
  input: string | null,
  options: NewRunOptions = {},
): NewRun {
  const firstStep = definition.steps[0];
  if (!firstStep) {
    // Never: a registered definition has at least one step (defineWorkflow).
    throw new Error(`Workflow "${definition.name}" has no steps`);
  }
  const runPriority = options.priority ?? definition.priority;
  return {
    id: uuidv7(),
    workflowName: definition.name,
    workflowVersion: definition.version,
    stepName: firstStep.name,
    input,
    maxAttempts: firstStep.policy.retry.maxAttempts,
    leaseMs: firstStep.policy.leaseMs,
    priority: firstStep.priority ?? runPriority,
    runPriority,
    runAt: options.runAt ?? null,
    delayMs:
      options.delayMs ??
      (options.runAt !== undefined ? 0 : (firstStep.delayMs ?? 0)),
    concurrencyKey: options.concurrencyKey ?? null,
    idempotencyKey: options.idempotencyKey ?? null,
    deadLetter: definition.deadLetter ?? null,
    ttlMs: definition.ttlMs,
  };
}
