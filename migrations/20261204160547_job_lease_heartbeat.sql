-- One lease renewal per worker instead of one per job: a worker's heartbeat renews every
-- job it holds (running, or claimed and waiting for a slot) in one statement, and learns
-- which of them it has lost.
--
-- Landed migrations are append-only: never edit this file once it is on main.

-- Renews p_worker's leases on the jobs p_ids for p_lease_seconds from now. Returns the ids
-- of p_ids that are still p_worker's; an id missing from the result was lost (its lease
-- expired and another worker released or claimed it, or an operator took it back), so the
-- worker must stop that job and let its writes roll back.
-- A row locked right now (its own worker completing or failing it, a release in progress)
-- is skipped rather than waited for, so the heartbeat never queues behind a job's
-- transaction or deadlocks with a batched completion; it is judged by the statement's
-- snapshot and renewed at the next beat.
create function public.extend_job_leases(p_ids bigint[], p_worker text, p_lease_seconds int)
returns bigint[]
language plpgsql volatile set search_path = '' as $$
declare
  held bigint[];
begin
  if p_lease_seconds is null or p_lease_seconds < 1 then
    raise exception 'extend_job_leases: p_lease_seconds must be at least 1' using errcode = '22023';
  end if;
  with renewable as (
    select j.id from public.jobs j
     where j.id = any(p_ids) and j.status = 'running' and j.locked_by = p_worker
     order by j.id
     for update skip locked
  ),
  renewed as (
    update public.jobs j
       set lease_expires_at = now() + make_interval(secs => p_lease_seconds)
      from renewable r
     where j.id = r.id
    returning j.id
  )
  -- Every sub-statement sees the same snapshot: this reads the rows as they were before
  -- the update, so a skipped (locked) row still counts as held.
  select coalesce(array_agg(j.id order by j.id), '{}') into held
    from public.jobs j
   where j.id = any(p_ids) and j.status = 'running' and j.locked_by = p_worker;
  return held;
end;
$$;

revoke all on function public.extend_job_leases(bigint[], text, int) from public;
revoke execute on function public.extend_job_leases(bigint[], text, int) from anon, authenticated;
grant execute on function public.extend_job_leases(bigint[], text, int) to service_role;
