-- One job lifecycle in ONE transaction: insert, claim the oldest pending job
-- (SKIP LOCKED, as a CTE so that it always returns one row), complete it.
begin;
insert into q (payload) values ('{"i": 1}');
with c as (
  select id from q where state = 0 order by id limit 1 for update skip locked
), u as (
  update q set state = 1, started_at = now() from c where q.id = c.id returning q.id
)
select coalesce((select id from u), 0) as id \gset
update q set state = 2, finished_at = now() where id = :id;
end;
