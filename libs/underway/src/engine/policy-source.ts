import { uuidv7 } from '../common/uuid';
import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import type { WorkflowRegistry } from '../discovery/workflow.registry';
import { WorkflowNotRegisteredError } from '../errors/workflow-not-registered.error';
import { BUILTIN_DEFAULTS } from '../options/resolve-options';
import { newRunOf } from './new-run';
import type { DeadLetterRow, NewRun } from './sql/admin.sql';
import { firstStepTemplates, RunTemplateRow } from './sql/read.sql';
import type { RetryBudgets } from './sql/retry.sql';

/**
 * What the operator actions (run details, retry, redrive) need to know of a
 * workflow's code. The client and the dashboard have the code
 * (`RegistryPolicies`); the CLI has only the database (`RecordedPolicies`).
 */
export interface PolicySource {
  /** The name of the step at position `index` of a version, when known. */
  stepName(
    workflowName: string,
    version: number,
    index: number,
  ): string | undefined;
  /** How many steps a version of `workflowName` has, when known. */
  stepCount(workflowName: string, version: number): number | undefined;
  /** The (workflow, version) pairs the code here registers (none for the CLI). */
  registeredVersions(): readonly { name: string; version: number }[];
  /**
   * The attempt budgets a retried run of `workflowName` at `version` gets.
   * @throws WorkflowNotRegisteredError when only the code can say, and it is not here
   */
  retryBudgets(workflowName: string, version: number): RetryBudgets;
  /**
   * The new runs that replace dead-letter entries, in their order, and the
   * workflows whose first step's policy had to be guessed (built-in defaults).
   * @throws WorkflowNotRegisteredError when only the code can say, and it is not here
   */
  newRunsFor(
    executor: SqlExecutor,
    entries: readonly DeadLetterRow[],
    queue: string,
  ): Promise<{ runs: NewRun[]; guessed: string[] }>;
}

/** The policies of the workflows registered here: the code that will run them. */
export class RegistryPolicies implements PolicySource {
  constructor(private readonly registry: WorkflowRegistry) {}

  stepName(
    workflowName: string,
    version: number,
    index: number,
  ): string | undefined {
    return this.registry.find(workflowName, version)?.steps[index]?.name;
  }

  stepCount(workflowName: string, version: number): number | undefined {
    return this.registry.find(workflowName, version)?.steps.length;
  }

  registeredVersions(): readonly { name: string; version: number }[] {
    return this.registry.all();
  }

  retryBudgets(workflowName: string, version: number): RetryBudgets {
    const definition = this.registry.find(workflowName, version);
    if (!definition) {
      if (this.registry.versionsOf(workflowName).length === 0) {
        throw new WorkflowNotRegisteredError(
          workflowName,
          this.registry.names(),
        );
      }
      // Another version's code runs it: its tasks keep their recorded budgets.
      return { steps: {}, activities: {} };
    }
    const steps: Record<string, number> = {};
    for (const step of definition.steps) {
      steps[step.name] = step.policy.retry.maxAttempts;
    }
    const activities: Record<string, number> = {};
    for (const activity of definition.activities.values()) {
      activities[activity.name] = activity.policy.retry.maxAttempts;
    }
    return { steps, activities };
  }

  newRunsFor(
    _executor: SqlExecutor,
    entries: readonly DeadLetterRow[],
  ): Promise<{ runs: NewRun[]; guessed: string[] }> {
    try {
      return Promise.resolve({
        runs: entries.map((entry) =>
          newRunOf(this.registry.get(entry.workflow_name), entry.input),
        ),
        guessed: [],
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

/**
 * Policies as the database recorded them, for the CLI, which has no
 * workflow code: a retried step and its failed calls get as many attempts
 * again as their rows recorded; a redriven run takes its first step's
 * attempts, lease and priority from the newest retained run of its workflow
 * at that step, else the built-in defaults (and says so).
 */
export class RecordedPolicies implements PolicySource {
  constructor(private readonly schema: Schema) {}

  stepName(): undefined {
    return undefined;
  }

  stepCount(): undefined {
    return undefined;
  }

  registeredVersions(): readonly { name: string; version: number }[] {
    return [];
  }

  retryBudgets(): RetryBudgets {
    // No budgets: the statement keeps each task's recorded max_attempts.
    return { steps: {}, activities: {} };
  }

  async newRunsFor(
    executor: SqlExecutor,
    entries: readonly DeadLetterRow[],
    queue: string,
  ): Promise<{ runs: NewRun[]; guessed: string[] }> {
    const workflows = [...new Set(entries.map((e) => e.workflow_name))];
    const templates = new Map(
      (
        await executor.query<RunTemplateRow>(
          firstStepTemplates(this.schema, workflows),
        )
      ).rows.map((row) => [row.workflow_name, row]),
    );
    return {
      runs: entries.map((entry) =>
        newRunLike(entry.workflow_name, entry.input, queue, templates),
      ),
      guessed: workflows.filter((name) => !templates.has(name)),
    };
  }
}

/** A new run of `workflowName` at its first step, as the app last wrote one. */
function newRunLike(
  workflowName: string,
  input: string | null,
  queue: string,
  templates: ReadonlyMap<string, RunTemplateRow>,
): NewRun {
  const template = templates.get(workflowName);
  return {
    id: uuidv7(),
    workflowName,
    // Unnamed without a template: the app names it from its code (its
    // maintenance names unnamed runs), as it does runs from before versions.
    workflowVersion: template?.workflow_version ?? 1,
    stepName: template?.step_name ?? null,
    input,
    maxAttempts: template?.max_attempts ?? BUILTIN_DEFAULTS.retry.maxAttempts,
    leaseMs: template?.lease_ms ?? BUILTIN_DEFAULTS.leaseMs,
    priority: template?.priority ?? 0,
    runPriority: template?.run_priority ?? 0,
    runAt: null,
    delayMs: 0,
    concurrencyKey: null,
    idempotencyKey: null,
    deadLetter: template ? template.dead_letter : queue,
    ttlMs: template ? Number(template.ttl_ms) : BUILTIN_DEFAULTS.ttlMs,
  };
}
