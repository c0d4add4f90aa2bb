import type { UnderwayMigrationDefinition } from './underway-migration';

/**
 * Version 8: child workflows. A step's `ctx.child` (awaited: kind `child`)
 * and `ctx.startChild` (not awaited: kind `start`) are numbered entries of
 * the step, `activity_call` rows whose `child_run_id` is the child's run,
 * inserted by the same statement as the child's run (the step's outcome).
 * An entry is `waiting` while its child runs, then `succeeded` (`result`: the
 * child's output) or `failed` (`error`: the child's error and its `state`),
 * written by the statement that finishes the child, which wakes the parent
 * (an awaited entry counts in the parent's `open_calls`).
 *
 * The child's run points back at its entry (`parent_run_id`,
 * `parent_step_index`, `parent_call_index`) and says what its parent's end
 * does to it (`parent_close`: `cancel`, or `abandon`).
 */
export const UnderwayChildren: UnderwayMigrationDefinition = {
  version: 8,
  timestamp: 1700000000007,
  name: 'UnderwayChildren',
  up: (s) => [
    `alter table ${s}.activity_call
      add column child_run_id uuid,
      drop constraint activity_call_kind_check,
      add constraint activity_call_kind_check
        check (kind in ('call', 'emit', 'wait', 'sleep', 'child', 'start'))`,
    `alter table ${s}.workflow_run
      add column parent_run_id uuid,
      add column parent_step_index integer,
      add column parent_call_index integer,
      add column parent_close text check (parent_close in ('cancel', 'abandon'))`,
    `create index workflow_run_parent_idx on ${s}.workflow_run (parent_run_id, id)
      where parent_run_id is not null`,
    // The unfinished children, for the sweep that cancels those of a failed parent.
    `create index workflow_run_open_child_idx on ${s}.workflow_run (parent_run_id)
      where parent_run_id is not null and state in ('pending', 'running', 'waiting')`,
  ],
  down: (s) => [
    `drop index if exists ${s}.workflow_run_open_child_idx`,
    `drop index if exists ${s}.workflow_run_parent_idx`,
    `alter table ${s}.workflow_run drop column if exists parent_run_id,
      drop column if exists parent_step_index, drop column if exists parent_call_index,
      drop column if exists parent_close`,
    `delete from ${s}.activity_call where kind in ('child', 'start')`,
    `alter table ${s}.activity_call drop column if exists child_run_id,
      drop constraint activity_call_kind_check,
      add constraint activity_call_kind_check check (kind in ('call', 'emit', 'wait', 'sleep'))`,
    `delete from ${s}.migration where version = 8`,
  ],
};
