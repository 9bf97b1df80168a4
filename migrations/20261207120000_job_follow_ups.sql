-- A job's follow-ups, and cheaper completions and claims.
--
-- Follow-ups are the due jobs a running job enqueued in its own transaction (e.g. the
-- outbox send a WhatsApp reply queues). The worker claims them in the statement that
-- completes the job, inside the job's transaction, so they are claimed exactly when the
-- job's work commits, and runs them next without waiting for another claim. Only jobs an
-- ordinary claim would take now are claimed: pending, due, in a queue the worker runs
-- (p_queues; null: every queue), held by no `processing.*` flag. Queues with a throttle or
-- a concurrency cap are left to claim_jobs, which counts them.
--
-- complete_job and lease_jobs keep their signatures and results, and become plpgsql: a SQL
-- function is planned again at every call, a plpgsql one plans its statements once per
-- connection (measured at about a third of each call's server time).

create or replace function public.complete_job(p_id bigint, p_worker text) returns boolean
language plpgsql volatile set search_path = '' as $$
begin
  update public.jobs j
     set status = 'completed', completed_at = now(), locked_by = null, lease_expires_at = null
   where j.id = p_id and j.status = 'running' and j.locked_by = p_worker;
  return found;
end;
$$;

create or replace function public.lease_jobs(p_ids bigint[], p_worker text, p_lease interval)
returns setof public.jobs
language plpgsql volatile set search_path = '' as $$
begin
  return query
    update public.jobs j
       set status = 'running', attempts = j.attempts + 1, locked_by = p_worker,
           lease_expires_at = now() + p_lease, started_at = now()
     where j.id = any(p_ids)
    returning j.*;
end;
$$;

-- Completes job p_id as complete_job does, and claims its follow-ups p_follow_ups for
-- p_worker, in the caller's transaction (the job's); returns the follow-ups claimed. A lease
-- no longer p_worker's raises SQLSTATE GH001 instead of answering false, which aborts the
-- transaction: the worker sends its COMMIT right behind this statement, without waiting
-- for the answer, and a COMMIT after a failed statement rolls back. The follow-ups' leases
-- run from the statement's clock, not the transaction's start: they become claimable only
-- at the commit.
create function public.complete_job_claiming(
  p_id bigint,
  p_worker text,
  p_follow_ups bigint[],
  p_lease_seconds int,
  p_queues text[] default null
) returns setof public.jobs
language plpgsql volatile set search_path = '' as $$
declare
  held text[];
begin
  if p_lease_seconds is null or p_lease_seconds < 1 then
    raise exception 'complete_job_claiming: p_lease_seconds must be at least 1'
      using errcode = '22023';
  end if;
  update public.jobs j
     set status = 'completed', completed_at = now(), locked_by = null, lease_expires_at = null
   where j.id = p_id and j.status = 'running' and j.locked_by = p_worker;
  if not found then
    raise exception 'job %: the lease is no longer %''s', p_id, p_worker using errcode = 'GH001';
  end if;
  if coalesce(cardinality(p_follow_ups), 0) = 0 then
    return;
  end if;
  held := public.processing_held_queues();
  return query
    with picked as (
      select j.id from public.jobs j
       where j.id = any(p_follow_ups) and j.status = 'pending'
         and j.run_at <= clock_timestamp()
         and (p_queues is null or j.queue = any(p_queues))
         and not (j.queue = any(held) or split_part(j.queue, ':', 1) = any(held))
         and not exists (
           select 1 from public.queue_settings s
            where s.queue = j.queue
              and (s.throttle_per_minute is not null or s.concurrency is not null))
       for update of j skip locked
    )
    update public.jobs j
       set status = 'running', attempts = j.attempts + 1, locked_by = p_worker,
           lease_expires_at = clock_timestamp() + make_interval(secs => p_lease_seconds),
           started_at = clock_timestamp()
      from picked p
     where j.id = p.id
    returning j.*;
end;
$$;

revoke all on function public.complete_job_claiming(bigint, text, bigint[], int, text[])
  from public, anon, authenticated;
grant execute on function public.complete_job_claiming(bigint, text, bigint[], int, text[])
  to service_role;
