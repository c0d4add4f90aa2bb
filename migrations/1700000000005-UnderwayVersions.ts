import type { UnderwayMigrationDefinition } from './underway-migration';

/**
 * Version 6: workflow versions and durable step names. A run stores its
 * workflow's `workflow_version` (`@Workflow({ version })`, default 1) and
 * its current step by `step_name` (`@Step({ name })`, default the method
 * name): the code that claims it finds the step by name, so inserting,
 * removing or reordering steps never sends a run to the wrong method.
 * `step_index` stays, as the ordinal of the step in the run's history (0 for
 * the first step it entered, + 1 for each `next`): the key of its attempts
 * and activity calls. Activity calls carry their run's version, so a call is
 * run by the code of that version, and the name of the step that made them.
 *
 * Additive and cheap: columns without a default, or with a constant one, are
 * catalog changes (no table rewrite). Runs written before this version have
 * no `step_name`: the runtime names those unfinished at boot, from the code
 * that registers their workflow (`runs_unnamed_idx` finds them; it is empty
 * once they are named, and costs new runs nothing since they are named).
 * `worker_version` lists the versions each running worker runs.
 */
export const UnderwayVersions: UnderwayMigrationDefinition = {
  version: 6,
  timestamp: 1700000000005,
  name: 'UnderwayVersions',
  up: (s) => [
    // step_key: what the claim matches against the steps its code has,
    // `<version>:<length of step_name>:<step_name>:<workflow_name>`, written
    // with step_name. A column of its own (not an expression of the others)
    // so that the planner has statistics for it: estimated blind, the
    // claim's filter looked so selective that a sequential scan won.
    `alter table ${s}.workflow_run
      add column workflow_version integer not null default 1 check (workflow_version >= 1),
      add column step_name text,
      add column step_key text`,
    `alter table ${s}.step_attempt add column step_name text`,
    // workflow_key: `<version>:<workflow_name>`, for the claim, likewise.
    `alter table ${s}.activity_call
      add column workflow_version integer not null default 1 check (workflow_version >= 1),
      add column step_name text,
      add column workflow_key text`,
    `create index activity_call_unkeyed_idx on ${s}.activity_call (workflow_name)
      where workflow_key is null and state in ('pending', 'running')`,
    `create index workflow_run_unnamed_idx on ${s}.workflow_run (workflow_name)
      where step_name is null and state in ('pending', 'running', 'waiting')`,
    // The versions each running worker runs, renewed by its housekeeping: the
    // dashboard and the CLI tell which versions no running instance runs.
    `create table ${s}.worker_version (
      workflow_name text not null,
      workflow_version integer not null,
      -- one per worker process (its instanceName and a random id)
      worker text not null,
      instance text not null,
      expires_at timestamptz not null,
      primary key (workflow_name, workflow_version, worker)
    )`,
  ],
  down: (s) => [
    `drop table if exists ${s}.worker_version`,
    `drop index if exists ${s}.workflow_run_unnamed_idx`,
    `drop index if exists ${s}.activity_call_unkeyed_idx`,
    `alter table ${s}.activity_call drop column if exists workflow_version,
      drop column if exists step_name, drop column if exists workflow_key`,
    `alter table ${s}.step_attempt drop column if exists step_name`,
    `alter table ${s}.workflow_run drop column if exists step_name,
      drop column if exists workflow_version, drop column if exists step_key`,
    `delete from ${s}.migration where version = 6`,
  ],
};
