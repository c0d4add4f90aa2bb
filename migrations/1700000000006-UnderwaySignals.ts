import type { UnderwayMigrationDefinition } from './underway-migration';

/**
 * Version 7: signals, waits and durable sleeps.
 *
 * A step's `ctx.waitFor` / `ctx.waitForAny` / `ctx.sleep` is a numbered
 * entry of the step beside its calls and emits: an `activity_call` row of
 * kind `wait` (its `args` the signal names it takes) or `sleep`. An open one
 * is `waiting`, with `run_at` its deadline (`infinity`: no timeout); it ends
 * `succeeded` (a signal consumed: `result` holds it) or `timed_out` (its
 * deadline passed; how a sleep ends). Open ones count in the run's
 * `open_calls`, so the run wakes when the last of its step's entries ends,
 * whichever ended it, exactly as for calls. `waiting` rows are never claimed
 * as work: `activity_call_claim_idx` holds `pending` rows only.
 *
 * `signal` holds every signal sent to a run, in send order (`seq`), `pending`
 * until a wait consumes it (`consumed`: by which step's entry). A signal with
 * an idempotency key is stored once per run.
 *
 * No lost wake-up (RELIABILITY scenario 17): whoever matches signals to
 * waits (`deliver_signals`: a sender, a step's suspension, a timeout) first
 * locks the run's row, then reads in statements of its own, so with a
 * snapshot taken after the lock: a sender that locks the row after a
 * suspension committed sees its wait; a suspension that commits after a
 * sender sees its signal. Locks are taken run row first, then wait rows.
 */
export const UnderwaySignals: UnderwayMigrationDefinition = {
  version: 7,
  timestamp: 1700000000006,
  name: 'UnderwaySignals',
  up: (s) => [
    `alter table ${s}.activity_call
      drop constraint activity_call_kind_check,
      add constraint activity_call_kind_check check (kind in ('call', 'emit', 'wait', 'sleep')),
      drop constraint activity_call_state_check,
      add constraint activity_call_state_check check (state in
        ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'waiting', 'timed_out'))`,
    `create index activity_call_deadline_idx on ${s}.activity_call (run_at)
      where state = 'waiting' and run_at < 'infinity'`,
    `create table ${s}.signal (
      id uuid primary key,
      run_id uuid not null,
      seq bigint generated always as identity,
      name text not null,
      payload jsonb,
      idempotency_key text,
      state text not null default 'pending' check (state in ('pending', 'consumed')),
      -- the entry that consumed it
      step_index integer,
      step_name text,
      call_index integer,
      -- the sender's trace context, for a span link from the consuming attempt
      trace_context jsonb,
      created_at timestamptz not null default now(),
      consumed_at timestamptz
    )`,
    `create index signal_run_idx on ${s}.signal (run_id, seq)`,
    // What a delivery scans: the run's pending signals only, however many it consumed.
    `create index signal_pending_idx on ${s}.signal (run_id, seq) where state = 'pending'`,
    `create unique index signal_idempotency_idx on ${s}.signal (run_id, idempotency_key)
      where idempotency_key is not null`,
    // Ends n open entries of step p_step of run p_run (its row locked by the
    // caller): the run wakes when none is left.
    `create function ${s}.close_entries(p_run uuid, p_step integer, p_n integer, p_channel text)
      returns boolean language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
    declare
      v_woke boolean;
    begin
      update ${s}.workflow_run r
      set open_calls = greatest(r.open_calls - p_n, 0),
        state = case when r.state = 'waiting' and r.run_at = 'infinity' and r.open_calls <= p_n
            then 'pending' else r.state end,
        run_at = case when r.state = 'waiting' and r.run_at = 'infinity' and r.open_calls <= p_n
            then least(coalesce(r.attempt_started_at, now()), now()) else r.run_at end,
        updated_at = now()
      where r.id = p_run and r.step_index = p_step
      returning r.state = 'pending' and r.run_at <= now() into v_woke;
      if coalesce(v_woke, false) then
        perform ${s}.notify_workers(p_channel, '');
      end if;
      return coalesce(v_woke, false);
    end $$`,
    // Gives the run's open waits their signals, oldest signal first, each
    // once. The caller holds the run's row lock; each statement here reads
    // with a snapshot taken after it.
    `create function ${s}.deliver_signals(p_run uuid, p_channel text)
      returns integer language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
    declare
      w record;
      g record;
      v_n integer := 0;
      v_step integer;
    begin
      for w in
        select c.step_index, c.step_name, c.call_index, c.args from ${s}.activity_call c
        where c.run_id = p_run and c.kind = 'wait' and c.state = 'waiting'
        order by c.step_index, c.call_index
        for update
      loop
        select sg.id, sg.name, sg.payload, sg.trace_context into g from ${s}.signal sg
        where sg.run_id = p_run and sg.state = 'pending'
          and sg.name in (select jsonb_array_elements_text(w.args))
        order by sg.seq
        limit 1
        for update;
        if found then
          update ${s}.signal
          set state = 'consumed', consumed_at = now(), step_index = w.step_index,
            step_name = w.step_name, call_index = w.call_index
          where id = g.id;
          update ${s}.activity_call
          set state = 'succeeded', completed_at = now(), updated_at = now(),
            result = jsonb_build_object('name', g.name, 'payload', g.payload, 'signalId', g.id,
              'trace', g.trace_context)
          where run_id = p_run and step_index = w.step_index and call_index = w.call_index;
          v_n := v_n + 1;
          v_step := w.step_index;
        end if;
      end loop;
      if v_n > 0 then
        perform ${s}.close_entries(p_run, v_step, v_n, p_channel);
      end if;
      return v_n;
    end $$`,
    // client.signal(): one call, in the caller's transaction. Locks the run
    // (FOR NO KEY UPDATE: the lock a step's commit takes), then stores the
    // signal, unless its key was taken, and delivers what can be.
    `create function ${s}.send_signal(p_run uuid, p_id uuid, p_name text, p_payload jsonb,
        p_key text, p_trace jsonb, p_channel text)
      returns jsonb language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
    declare
      v_state text;
      v_id uuid;
    begin
      select r.state into v_state from ${s}.workflow_run r where r.id = p_run for no key update;
      if not found then
        return jsonb_build_object('outcome', 'not_found');
      end if;
      if p_key is not null then
        select sg.id into v_id from ${s}.signal sg where sg.run_id = p_run and sg.idempotency_key = p_key;
        if found then
          return jsonb_build_object('outcome', 'duplicate', 'signalId', v_id);
        end if;
      end if;
      if v_state in ('succeeded', 'failed', 'cancelled') then
        return jsonb_build_object('outcome', 'finished', 'state', v_state);
      end if;
      insert into ${s}.signal (id, run_id, name, payload, idempotency_key, trace_context)
      values (p_id, p_run, p_name, p_payload, p_key, p_trace);
      return jsonb_build_object('outcome', 'stored', 'signalId', p_id,
        'delivered', ${s}.deliver_signals(p_run, p_channel));
    end $$`,
    // Delivers to the waits of runs that just suspended on them (their rows
    // locked by the suspension's own statement, in the same transaction).
    `create function ${s}.deliver_after_wait(p_runs uuid[], p_channel text)
      returns integer language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
    declare
      v_run uuid;
      v_n integer := 0;
    begin
      foreach v_run in array p_runs loop
        perform 1 from ${s}.workflow_run r where r.id = v_run for no key update;
        v_n := v_n + ${s}.deliver_signals(v_run, p_channel);
      end loop;
      return v_n;
    end $$`,
    // Ends the waits and sleeps whose deadline passed (of the workflows a
    // worker runs), run row locked first; a run whose row is locked (a
    // sender's open transaction) is left for the next pass.
    `create function ${s}.expire_waits(p_names text[], p_keys text[], p_limit integer, p_channel text)
      returns integer language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
    declare
      d record;
      v_n integer;
      v_total integer := 0;
    begin
      for d in
        select distinct e.run_id, e.step_index from (
          select c.run_id, c.step_index from ${s}.activity_call c
          where c.state = 'waiting' and c.run_at <= now() and c.run_at < 'infinity'
            and c.workflow_name = any(p_names) and c.workflow_key = any(p_keys)
          order by c.run_at
          limit p_limit) e
      loop
        perform 1 from ${s}.workflow_run r where r.id = d.run_id for no key update skip locked;
        if found then
          with t as (
            update ${s}.activity_call c
            set state = 'timed_out', completed_at = now(), updated_at = now()
            where c.run_id = d.run_id and c.step_index = d.step_index and c.state = 'waiting'
              and c.run_at <= now()
            returning 1)
          select count(*) into v_n from t;
          if v_n > 0 then
            perform ${s}.close_entries(d.run_id, d.step_index, v_n, p_channel);
            v_total := v_total + v_n;
          end if;
        end if;
      end loop;
      return v_total;
    end $$`,
  ],
  down: (s) => [
    `drop function if exists ${s}.expire_waits(text[], text[], integer, text)`,
    `drop function if exists ${s}.deliver_after_wait(uuid[], text)`,
    `drop function if exists ${s}.send_signal(uuid, uuid, text, jsonb, text, jsonb, text)`,
    `drop function if exists ${s}.deliver_signals(uuid, text)`,
    `drop function if exists ${s}.close_entries(uuid, integer, integer, text)`,
    `drop table if exists ${s}.signal`,
    `drop index if exists ${s}.activity_call_deadline_idx`,
    `delete from ${s}.activity_call where kind in ('wait', 'sleep')`,
    `alter table ${s}.activity_call
      drop constraint activity_call_kind_check,
      add constraint activity_call_kind_check check (kind in ('call', 'emit')),
      drop constraint activity_call_state_check,
      add constraint activity_call_state_check check (state in
        ('pending', 'running', 'succeeded', 'failed', 'cancelled'))`,
    `delete from ${s}.migration where version = 7`,
  ],
};
