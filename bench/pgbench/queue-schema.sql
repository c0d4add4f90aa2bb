-- Queue table of the pgbench queue reference (PROTOCOL.md §6). Re-created before each
-- queue run and deliberately NOT analysed (§4 rule 4).
drop table if exists q;
create table q (
  id bigserial primary key,
  payload jsonb,
  state smallint not null default 0, -- 0 pending, 1 running, 2 done
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz
);
create index q_pending on q (id) where state = 0;
