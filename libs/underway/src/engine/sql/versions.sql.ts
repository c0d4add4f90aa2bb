import { fragment, ident, Schema, sql, SqlQuery } from '../../database/sql';
import { ClaimScope, workflowKey } from '../../model/claim-scope';
import { stepKeySql } from './claim.sql';
import { deadLetters, releaseSlots, settleChildren } from './fragments.sql';

/**
 * Names the unfinished runs written before versions (no `step_name`) from
 * the code here: the step at their `step_index` in their version's steps
 * (`steps`: by `workflowKey`, the durable step names in order). A run whose
 * index is past the end stays unnamed: no instance claims it, and
 * `failUnknownSteps` fails it once its grace is over. Cheap when there is
 * none: `workflow_run_unnamed_idx` holds exactly these runs.
 */
export function nameUnnamedRuns(
  schema: Schema,
  names: readonly string[],
  steps: Readonly<Record<string, readonly string[]>>,
): SqlQuery {
  const json = JSON.stringify(steps);
  return sql`
    with found as (
      select r.id, (${json}::jsonb -> (r.workflow_version::text || ':' || r.workflow_name))
        ->> r.step_index as step_name
      from ${ident(schema)}.workflow_run r
      where r.step_name is null and r.state in ('pending', 'running', 'waiting')
        and r.workflow_name = any(${names}::text[])
    ), named as (
      update ${ident(schema)}.workflow_run r
      set step_name = f.step_name,
        step_key = ${stepKeySql(fragment`r.workflow_version`, fragment`f.step_name`, fragment`r.workflow_name`)}
      from found f
      where r.id = f.id and f.step_name is not null
      returning r.id
    ), keyed as (
      -- Their unfinished activity calls, likewise.
      update ${ident(schema)}.activity_call c
      set workflow_key = c.workflow_version::text || ':' || c.workflow_name
      where c.workflow_key is null and c.state in ('pending', 'running')
        and c.workflow_name = any(${names}::text[])
    )
    select count(*)::int as named from named`;
}

export interface UnknownStepRow {
  id: string;
  workflow_name: string;
  state: string;
}

/**
 * Fails the runs of the versions in `scope` that have waited more than
 * `graceMs` at a step that version's code here does not have (removed, or
 * renamed without keeping its `@Step({ name })`), or that were never named:
 * code `step_not_found`, no attempt used, the key freed, dead-lettered where
 * configured. `client.retry` resumes such a run once code that has the step
 * runs. A run locked by a claim (an instance that has the step took it) is
 * skipped.
 */
export function failUnknownSteps(
  schema: Schema,
  scope: ClaimScope,
  graceMs: number,
): SqlQuery {
  return sql`
    with stuck as (
      select r.id from ${ident(schema)}.workflow_run r
      where r.state in ('pending', 'waiting')
        and r.run_at <= now() - ${graceMs}::bigint * interval '1 millisecond'
        and r.workflow_name = any(${scope.names}::text[])
        and (r.workflow_version || ':' || r.workflow_name) = any(${scope.workflowKeys}::text[])
        and coalesce(r.step_key = any(${scope.stepKeys}::text[]), false) = false
      order by r.run_at
      limit 1000
      for update of r skip locked
    ), updated as (
      update ${ident(schema)}.workflow_run r
      set state = 'failed',
        error = jsonb_build_object(
          'code', 'step_not_found',
          'name', 'StepNotFound',
          'message', case when r.step_name is null
            then format('Run is at step %s of workflow "%s" version %s, which its code does not have; '
              'no instance ran it for %s ms. Deploy code that has the step, then retry the run.',
              r.step_index, r.workflow_name, r.workflow_version, ${graceMs}::bigint)
            else format('Run is at step "%s" of workflow "%s" version %s, which no instance''s code has '
              '(removed, or renamed without keeping its @Step({ name })): it waited %s ms. '
              'Deploy code that has the step, then retry the run.',
              r.step_name, r.workflow_name, r.workflow_version, ${graceMs}::bigint) end),
        lease_expires_at = null, lease_owner = null, updated_at = now(), completed_at = now(),
        expires_at = now() + r.ttl_ms * interval '1 millisecond'
      from stuck s
      where r.id = s.id and r.state in ('pending', 'waiting')
      returning r.id, r.workflow_name, r.state, r.concurrency_key, r.error, r.parent_run_id,
        r.parent_step_index, r.parent_call_index
    ), finished_run as (
      select id, concurrency_key from updated
    ), finished_child as (
      select id, parent_run_id, parent_step_index, parent_call_index, state, null::jsonb as output,
        error
      from updated where parent_run_id is not null
    ), ${settleChildren(schema)}, ${releaseSlots(schema)}, failed_run as (
      select id, error from updated
    ), ${deadLetters(schema)}
    -- Reading child_woken runs it: a failed child's parent is notified.
    select id, workflow_name, state, (select count(*) from child_woken) as woken from updated`;
}

export interface VersionRow {
  workflow_name: string;
  workflow_version: number;
  in_flight: number;
  /** The running workers that run it. */
  workers: string[];
}

/**
 * Per (workflow, version) of `workflowName` or of all: its unfinished runs,
 * and the running workers that run it. Reads only unfinished runs (the claim
 * and lease indexes hold them).
 */
export function versionsInFlight(
  schema: Schema,
  workflowName: string | null,
): SqlQuery {
  return sql`
    with runs as (
      select workflow_name, workflow_version, count(*)::int as in_flight
      from ${ident(schema)}.workflow_run
      where (state in ('pending', 'waiting') or state = 'running')
        and (${workflowName}::text is null or workflow_name = ${workflowName}::text)
      group by workflow_name, workflow_version
    ), workers as (
      select workflow_name, workflow_version, array_agg(distinct instance order by instance) as workers
      from ${ident(schema)}.worker_version
      where expires_at > now()
        and (${workflowName}::text is null or workflow_name = ${workflowName}::text)
      group by workflow_name, workflow_version
    )
    select workflow_name, workflow_version, coalesce(r.in_flight, 0) as in_flight,
      coalesce(w.workers, '{}') as workers
    from runs r full join workers w using (workflow_name, workflow_version)
    order by workflow_name, workflow_version`;
}

/**
 * Records that `worker` (one process: a random id, and its instance name)
 * runs the versions `names`/`versions` until `ttlMs` from now, and forgets
 * what lapsed (a worker that died).
 */
export function registerWorkerVersions(
  schema: Schema,
  worker: { readonly id: string; readonly instance: string },
  names: readonly string[],
  versions: readonly number[],
  ttlMs: number,
): SqlQuery {
  return sql`
    with fresh as (
      insert into ${ident(schema)}.worker_version
        (workflow_name, workflow_version, worker, instance, expires_at)
      select n, v, ${worker.id}, ${worker.instance}, now() + ${ttlMs}::bigint * interval '1 millisecond'
      from unnest(${names}::text[], ${versions}::int[]) as t(n, v)
      on conflict (workflow_name, workflow_version, worker)
        do update set expires_at = excluded.expires_at
    )
    -- Never a row the upsert above writes: one statement changes a row once.
    delete from ${ident(schema)}.worker_version
    where (expires_at < now() and worker <> ${worker.id}) or (worker = ${worker.id} and
      (workflow_version || ':' || workflow_name) <> all(${names.map((n, i) => workflowKey(n, versions[i]!))}::text[]))`;
}

/** Forgets what `worker` runs (it stops). */
export function forgetWorkerVersions(schema: Schema, worker: string): SqlQuery {
  return sql`delete from ${ident(schema)}.worker_version where worker = ${worker}`;
}
