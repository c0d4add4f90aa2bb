/**
 * What an instance may claim: the (workflow, version) pairs it registers and,
 * of each, the steps its code has. A run is claimed only at a step its
 * claimer knows; an activity call, only by an instance that registers its
 * run's version. The keys are compared in SQL to keys built the same way
 * from a row (`engine/sql/claim.sql.ts`).
 */
export interface ClaimScope {
  /** The workflow names, once each (the claim's cheap first filter). */
  readonly names: readonly string[];
  /** `workflowKey(name, version)` of each pair. */
  readonly workflowKeys: readonly string[];
  /** `stepKey(name, version, step)` of each step of each pair. */
  readonly stepKeys: readonly string[];
}

/** A registered workflow version, as the claim sees it. */
export interface ScopedWorkflow {
  readonly name: string;
  readonly version: number;
  /** The durable names of its steps. */
  readonly steps: readonly string[];
}

/** `<version>:<name>`: one key per (workflow, version); the version has no `:`. */
export function workflowKey(name: string, version: number): string {
  return `${version}:${name}`;
}

/**
 * `<version>:<length of step>:<step>:<name>`: one key per (workflow,
 * version, step), whatever characters the names hold (the step's length,
 * in characters as PostgreSQL's `length()` counts them, says where it ends).
 */
export function stepKey(name: string, version: number, step: string): string {
  return `${version}:${[...step].length}:${step}:${name}`;
}

export function claimScope(workflows: readonly ScopedWorkflow[]): ClaimScope {
  return {
    names: [...new Set(workflows.map((w) => w.name))],
    workflowKeys: workflows.map((w) => workflowKey(w.name, w.version)),
    stepKeys: workflows.flatMap((w) =>
      w.steps.map((step) => stepKey(w.name, w.version, step)),
    ),
  };
}
