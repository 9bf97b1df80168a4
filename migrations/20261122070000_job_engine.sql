-- The job engine: claiming with leases, completion, retries, dead letters and replay,
-- per-queue flow control, slow-job records, queue health and retention. Workers call
-- these functions (functions/_shared/queue); operators call them from SQL, e.g.
--   select replay_dead_jobs(since => interval '1 hour', provider => 'stripe');
--   select * from queue_health();
--   insert into queue_settings (queue, throttle_per_minute, concurrency) values ('orders', 100, 4);

-- Claim order across every queue: highest priority, then the longest due.
create index jobs_claim on public.jobs (priority desc, run_at, id) where status = 'pending';
-- Running jobs per queue, for concurrency caps.
create index jobs_running_queue on public.jobs (queue) where status = 'running';
create index dead_jobs_dedupe_key on public.dead_jobs (dedupe_key);
create index dead_jobs_queue on public.dead_jobs (queue, dead_at);

-- Per-queue flow control, enforced across all workers. A queue with no row runs freely.
create table public.queue_settings (
  queue text primary key,
  -- At most this many jobs of the queue start per minute (token bucket refilled evenly).
  throttle_per_minute int check (throttle_per_minute > 0),
  -- How many may start at once after an idle spell; default one second's worth (min 1).
  throttle_burst int check (throttle_burst > 0),
  -- At most this many of the queue's jobs run at the same time.
  concurrency int check (concurrency > 0),
  description text,
  updated_at timestamptz not null default now(),
  updated_by text not null default current_user
);

comment on table public.queue_settings is
  'Per-queue throttle (jobs/minute) and concurrency cap, enforced across all workers.';

alter table public.queue_settings enable row level security;
create policy "service role manages queue settings" on public.queue_settings
  for all to service_role using (true) with check (true);
revoke all on public.queue_settings from anon, authenticated;
grant select, insert, update, delete on public.queue_settings to service_role;

-- A run that took longer than the slow threshold (GATEHOUSE_SLOW_JOB_MS).
create table public.slow_jobs (
  id bigint generated always as identity primary key,
  job_id bigint not null,
  queue text not null,
  kind text not null,
  attempt int not null,
  duration_ms int not null,
  threshold_ms int not null,
  outcome text not null,
  worker text,
  request_id text,
  recorded_at timestamptz not null default now()
);

create index slow_jobs_recorded_at on public.slow_jobs (recorded_at);

alter table public.slow_jobs enable row level security;
create policy "service role manages slow jobs" on public.slow_jobs
  for all to service_role using (true) with check (true);
revoke all on public.slow_jobs from anon, authenticated;
grant select, insert, delete on public.slow_jobs to service_role;

-- Who did what to which entity, before and after. Append-only: rows are never changed.
create table public.audit_logs (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  actor text not null default current_user,
  action text not null,
  entity_type text not null,
  entity_id text,
  before jsonb,
  after jsonb,
  context jsonb not null default '{}'::jsonb,
  request_id text
);

create index audit_logs_at on public.audit_logs (at);
create index audit_logs_entity on public.audit_logs (entity_type, entity_id, at);

create function public.audit_logs_append_only() returns trigger
language plpgsql set search_path = '' as $$
begin
  raise exception 'audit_logs is append-only: % is not allowed', tg_op using errcode = '42501';
end;
$$;

create trigger audit_logs_append_only before update or delete on public.audit_logs
  for each row execute function public.audit_logs_append_only();

alter table public.audit_logs enable row level security;
create policy "service role reads audit logs" on public.audit_logs
  for select to service_role using (true);
create policy "service role appends audit logs" on public.audit_logs
  for insert to service_role with check (true);
revoke all on public.audit_logs from anon, authenticated;
grant select, insert on public.audit_logs to service_role;

-- The queue a `processing.<name>` flag holds: its own name, or the part before ':'
-- (so processing.standard holds standard:github, standard:shop, ...).
create function public.processing_held_queues() returns text[]
language sql stable set search_path = '' as $$
  select coalesce(array_agg(substr(f.key, length('processing.') + 1)), '{}')
    from public.feature_flags f
   where f.key like 'processing.%' and not f.enabled
$$;

-- Moves running jobs whose lease has expired (their worker crashed or hung) back to
-- pending, or to the dead letters when they have used every attempt. Returns how many.
create function public.release_expired_leases() returns int
language plpgsql volatile set search_path = '' as $$
declare
  released int;
begin
  with expired as (
    select j.id, j.attempts >= j.max_attempts as hopeless,
           jsonb_build_array(jsonb_build_object(
             'attempt', j.attempts, 'at', now(), 'worker', j.locked_by,
             'error', 'lease expired: the worker stopped before finishing')) as entry
      from public.jobs j
     where j.status = 'running' and j.lease_expires_at < now()
     for update skip locked
  ),
  released_jobs as (
    update public.jobs j
       set status = 'pending', run_at = now(), locked_by = null, lease_expires_at = null,
           last_error = 'lease expired: the worker stopped before finishing',
           errors = j.errors || e.entry
      from expired e
     where j.id = e.id and not e.hopeless
    returning j.id
  ),
  -- Every attempt used: a job that kills its worker each time must not loop forever.
  buried as (
    delete from public.jobs j using expired e
     where j.id = e.id and e.hopeless
    returning j.*, e.entry
  ),
  moved as (
    insert into public.dead_jobs (id, queue, kind, payload, priority, attempts, max_attempts,
                                  errors, last_error, dedupe_key, request_id, created_at)
    select b.id, b.queue, b.kind, b.payload, b.priority, b.attempts, b.max_attempts,
           b.errors || b.entry, 'lease expired: the worker stopped before finishing',
           b.dedupe_key, b.request_id, b.created_at
      from buried b
    returning id
  ),
  failed_events as (
    update public.inbound_events ev set status = 'failed'
      from buried b
     where b.payload ? 'inbound_event_id'
       and ev.id = (b.payload ->> 'inbound_event_id')::bigint and ev.status = 'accepted'
    returning ev.id
  )
  select count(*) into released from released_jobs;
  return released;
end;
$$;

-- Gives the jobs `p_ids` (picked and row-locked by the caller) to worker p_worker for
-- p_lease: running, one more attempt.
create function public.lease_jobs(p_ids bigint[], p_worker text, p_lease interval)
returns setof public.jobs
language sql volatile set search_path = '' as $$
  update public.jobs j
     set status = 'running', attempts = j.attempts + 1, locked_by = p_worker,
         lease_expires_at = now() + p_lease, started_at = now()
   where j.id = any(p_ids)
  returning j.*
$$;

-- Claims up to p_limit due jobs for worker p_worker with a lease of p_lease_seconds.
-- Queues held by a processing flag are skipped; queues with a throttle or concurrency cap
-- are claimed one worker at a time (their settings row is locked for the claim) within
-- their allowance; every other queue is claimed in one statement with `skip locked`.
-- Expired leases are released first unless p_release_leases is false (a worker claiming
-- many batches in a row releases them on its first claim and then every few seconds).
create function public.claim_jobs(
  p_worker text,
  p_limit int,
  p_lease_seconds int default 60,
  p_queues text[] default null,
  p_release_leases boolean default true
) returns setof public.jobs
-- Every claim walks an index in claim order (jobs_claim, or jobs_due for one queue) and
-- stops after p_limit rows. Without enable_sort = off the planner may read every due job
-- and sort them instead, when statistics lag a burst of new jobs or a cached generic plan
-- cannot see that the queue filters are empty (measured with 50,000 jobs due: 20-40 ms per
-- claim against about 1 ms).
language plpgsql volatile set search_path = '' set enable_sort = off as $$
declare
  held text[];
  constrained text[];
  settings record;
  remaining int := p_limit;
  allowance int;
  claimed int;
  running_now int;
  due int;
  lease interval := make_interval(secs => p_lease_seconds);
begin
  if p_limit is null or p_limit < 1 then
    raise exception 'claim_jobs: p_limit must be at least 1' using errcode = '22023';
  end if;
  if p_lease_seconds is null or p_lease_seconds < 1 then
    raise exception 'claim_jobs: p_lease_seconds must be at least 1' using errcode = '22023';
  end if;

  if p_release_leases is distinct from false then
    perform public.release_expired_leases();
  end if;
  held := public.processing_held_queues();

  select coalesce(array_agg(s.queue), '{}') into constrained
    from public.queue_settings s
   where s.throttle_per_minute is not null or s.concurrency is not null;

  for settings in
    select s.* from public.queue_settings s
     where s.queue = any(constrained)
       and (p_queues is null or s.queue = any(p_queues))
       and not (s.queue = any(held) or split_part(s.queue, ':', 1) = any(held))
     order by s.queue
  loop
    exit when remaining <= 0;
    -- One claimer per constrained queue at a time; another worker busy with it is skipped.
    perform 1 from public.queue_settings s where s.queue = settings.queue
       for update skip locked;
    continue when not found;

    select count(*)::int into due from (
      select 1 from public.jobs j
       where j.queue = settings.queue and j.status = 'pending' and j.run_at <= now()
       limit remaining) d;
    allowance := due;
    if allowance > 0 and settings.concurrency is not null then
      select count(*)::int into running_now from public.jobs j
       where j.queue = settings.queue and j.status = 'running';
      allowance := least(allowance, settings.concurrency - running_now);
    end if;
    if allowance > 0 and settings.throttle_per_minute is not null then
      allowance := public.rate_limit_take_up_to(
        'queue:' || settings.queue,
        coalesce(settings.throttle_burst, greatest(1, settings.throttle_per_minute / 60)),
        settings.throttle_per_minute / 60.0,
        allowance);
    end if;
    continue when allowance <= 0;

    return query select * from public.lease_jobs(array(
      select j.id from public.jobs j
       where j.queue = settings.queue and j.status = 'pending' and j.run_at <= now()
       order by j.priority desc, j.run_at, j.id
       limit allowance
       for update skip locked), p_worker, lease);
    get diagnostics claimed = row_count;
    remaining := remaining - claimed;
  end loop;

  if remaining > 0 then
    return query select * from public.lease_jobs(array(
      select j.id from public.jobs j
       where j.status = 'pending' and j.run_at <= now()
         and (p_queues is null or j.queue = any(p_queues))
         and not (j.queue = any(constrained))
         and not (j.queue = any(held) or split_part(j.queue, ':', 1) = any(held))
       order by j.priority desc, j.run_at, j.id
       limit remaining
       for update skip locked), p_worker, lease);
  end if;
end;
$$;

-- Marks a claimed job completed. Call it in the transaction that holds the handler's
-- writes: false means the lease was lost (another worker took the job), so the caller
-- must roll back.
create function public.complete_job(p_id bigint, p_worker text) returns boolean
language sql volatile set search_path = '' as $$
  with done as (
    update public.jobs j
       set status = 'completed', completed_at = now(), locked_by = null,
           lease_expires_at = null
     where j.id = p_id and j.status = 'running' and j.locked_by = p_worker
    returning 1
  )
  select exists (select 1 from done)
$$;

-- Marks many claimed jobs completed in one statement: the jobs whose handlers wrote nothing
-- that must commit with their completion. Returns the ids completed; an id missing from
-- the result is no longer p_worker's (its lease was lost).
create function public.complete_jobs(p_ids bigint[], p_worker text) returns setof bigint
language sql volatile set search_path = '' as $$
  update public.jobs j
     set status = 'completed', completed_at = now(), locked_by = null, lease_expires_at = null
   where j.id = any(p_ids) and j.status = 'running' and j.locked_by = p_worker
  returning j.id
$$;

-- Hands claimed jobs that never started back to the queue, due now, without counting the
-- attempt (a worker stopping with jobs it had claimed ahead). Returns how many.
create function public.release_jobs(p_ids bigint[], p_worker text) returns int
language sql volatile set search_path = '' as $$
  with released as (
    update public.jobs j
       set status = 'pending', attempts = greatest(j.attempts - 1, 0), run_at = now(),
           locked_by = null, lease_expires_at = null, started_at = null
     where j.id = any(p_ids) and j.status = 'running' and j.locked_by = p_worker
    returning 1
  )
  select count(*)::int from released
$$;

-- Keeps a long run's lease alive. False when the lease is no longer this worker's.
create function public.extend_job_lease(p_id bigint, p_worker text, p_lease_seconds int)
returns boolean
language sql volatile set search_path = '' as $$
  with extended as (
    update public.jobs j set lease_expires_at = now() + make_interval(secs => p_lease_seconds)
     where j.id = p_id and j.status = 'running' and j.locked_by = p_worker
    returning 1
  )
  select exists (select 1 from extended)
$$;

-- Records a failed attempt. Retries after p_retry_in_ms, or moves the job to dead_jobs
-- when the error is permanent or the attempts are used up (p_max_attempts, when given,
-- overrides the row's max_attempts: the handler's policy). Returns 'retried', 'dead', or
-- 'lost' when the job is no longer this worker's.
create function public.fail_job(
  p_id bigint,
  p_worker text,
  p_error text,
  p_retry_in_ms int,
  p_permanent boolean default false,
  p_max_attempts int default null
) returns text
language plpgsql volatile set search_path = '' as $$
declare
  job public.jobs;
  entry jsonb;
begin
  select * into job from public.jobs j
   where j.id = p_id and j.status = 'running' and j.locked_by = p_worker
   for update;
  if not found then
    return 'lost';
  end if;
  entry := jsonb_build_object('attempt', job.attempts, 'at', now(), 'worker', p_worker,
                              'error', left(coalesce(p_error, 'unknown error'), 4000),
                              'permanent', coalesce(p_permanent, false));
  if coalesce(p_permanent, false) or job.attempts >= coalesce(p_max_attempts, job.max_attempts)
  then
    delete from public.jobs j where j.id = p_id;
    insert into public.dead_jobs (id, queue, kind, payload, priority, attempts, max_attempts,
                                  errors, last_error, dedupe_key, request_id, created_at)
    values (job.id, job.queue, job.kind, job.payload, job.priority, job.attempts,
            coalesce(p_max_attempts, job.max_attempts), job.errors || jsonb_build_array(entry),
            left(p_error, 4000), job.dedupe_key, job.request_id, job.created_at);
    if job.payload ? 'inbound_event_id' then
      update public.inbound_events e set status = 'failed'
       where e.id = (job.payload ->> 'inbound_event_id')::bigint and e.status = 'accepted';
    end if;
    return 'dead';
  end if;
  update public.jobs j
     set status = 'pending',
         run_at = now() + make_interval(secs => greatest(p_retry_in_ms, 0) / 1000.0),
         locked_by = null, lease_expires_at = null, last_error = left(p_error, 4000),
         errors = j.errors || jsonb_build_array(entry)
   where j.id = p_id;
  return 'retried';
end;
$$;

-- Puts dead jobs back on their queue (attempts reset, error history kept) and writes one
-- audit row per job. `provider` matches the queue (stripe) or its family (standard →
-- standard:github). Returns how many were replayed.
create function public.replay_dead_jobs(
  since interval,
  provider text default null,
  kind text default null,
  ids bigint[] default null,
  actor text default null
) returns int
language plpgsql volatile set search_path = '' as $$
#variable_conflict use_column
declare
  replayed int;
begin
  if replay_dead_jobs.since is null then
    raise exception 'replay_dead_jobs: since is required (e.g. interval ''1 hour'')'
      using errcode = '22023';
  end if;
  with picked as (
    select d.* from public.dead_jobs d
     where d.dead_at >= now() - replay_dead_jobs.since
       and (replay_dead_jobs.provider is null or d.queue = replay_dead_jobs.provider
            or d.queue like replay_dead_jobs.provider || ':%')
       and (replay_dead_jobs.kind is null or d.kind = replay_dead_jobs.kind)
       and (replay_dead_jobs.ids is null or d.id = any(replay_dead_jobs.ids))
     for update skip locked
  ),
  revived as (
    insert into public.jobs (id, queue, kind, payload, priority, status, run_at, attempts,
                             max_attempts, errors, last_error, dedupe_key, request_id,
                             created_at)
    overriding system value
    select p.id, p.queue, p.kind, p.payload, p.priority, 'pending', now(), 0, p.max_attempts,
           p.errors, p.last_error, p.dedupe_key, p.request_id, p.created_at
      from picked p
    on conflict do nothing
    returning id
  ),
  removed as (
    delete from public.dead_jobs d using revived r where d.id = r.id
    returning d.*
  ),
  events as (
    update public.inbound_events e set status = 'accepted'
      from removed r
     where r.payload ? 'inbound_event_id'
       and e.id = (r.payload ->> 'inbound_event_id')::bigint and e.status = 'failed'
    returning e.id
  ),
  audited as (
    insert into public.audit_logs (actor, action, entity_type, entity_id, before, after, context)
    select coalesce(replay_dead_jobs.actor, current_user), 'job.replay', 'job', r.id::text,
           jsonb_build_object('status', 'dead', 'queue', r.queue, 'kind', r.kind,
                              'attempts', r.attempts, 'dead_at', r.dead_at,
                              'last_error', r.last_error),
           jsonb_build_object('status', 'pending', 'attempts', 0),
           jsonb_build_object('since', replay_dead_jobs.since::text,
                              'provider', replay_dead_jobs.provider,
                              'kind', replay_dead_jobs.kind)
      from removed r
    returning 1
  )
  select count(*) into replayed from audited;
  return replayed;
end;
$$;

-- Per queue: due jobs waiting (depth), jobs scheduled later, running, dead, and how long
-- the oldest due job has waited.
create function public.queue_health()
returns table (queue text, depth bigint, scheduled bigint, running bigint, dead bigint,
               oldest_due_ms bigint)
language sql stable set search_path = '' as $$
  with live as (
    select j.queue,
           count(*) filter (where j.status = 'pending' and j.run_at <= now()) as depth,
           count(*) filter (where j.status = 'pending' and j.run_at > now()) as scheduled,
           count(*) filter (where j.status = 'running') as running,
           min(j.run_at) filter (where j.status = 'pending' and j.run_at <= now()) as oldest
      from public.jobs j
     where j.status in ('pending', 'running')
     group by j.queue
  ),
  buried as (
    select d.queue, count(*) as dead from public.dead_jobs d group by d.queue
  )
  select coalesce(l.queue, b.queue),
         coalesce(l.depth, 0), coalesce(l.scheduled, 0), coalesce(l.running, 0),
         coalesce(b.dead, 0),
         coalesce((extract(epoch from now() - l.oldest) * 1000)::bigint, 0)
    from live l full join buried b on b.queue = l.queue
   order by 1
$$;

-- Deletes, at most p_batch rows of each, completed jobs, slow-job records and settled
-- inbound events older than p_older_than. An event is kept while a live or dead job
-- still points at it (nothing unprocessed is lost). Call it until it returns zeros.
create function public.purge_retention(p_older_than interval, p_batch int default 1000)
returns table (jobs_deleted int, events_deleted int, slow_jobs_deleted int)
language plpgsql volatile set search_path = '' as $$
declare
  cutoff timestamptz := now() - p_older_than;
begin
  if p_older_than is null or p_older_than < interval '1 hour' then
    raise exception 'purge_retention: p_older_than must be at least 1 hour'
      using errcode = '22023';
  end if;
  with doomed as (
    select j.id from public.jobs j
     where j.status = 'completed' and j.completed_at < cutoff
     order by j.completed_at limit p_batch for update skip locked
  )
  delete from public.jobs j using doomed d where j.id = d.id;
  get diagnostics jobs_deleted = row_count;

  with doomed as (
    select e.id from public.inbound_events e
     where e.received_at < cutoff
       and not exists (
         select 1 from public.jobs j
          where j.dedupe_key = 'inbound:' || e.provider || ':' || e.event_key
            and j.status <> 'completed')
       and not exists (
         select 1 from public.dead_jobs d
          where d.dedupe_key = 'inbound:' || e.provider || ':' || e.event_key)
     order by e.received_at limit p_batch for update skip locked
  )
  delete from public.inbound_events e using doomed d where e.id = d.id;
  get diagnostics events_deleted = row_count;

  with doomed as (
    select s.id from public.slow_jobs s where s.recorded_at < cutoff
     order by s.recorded_at limit p_batch
  )
  delete from public.slow_jobs s using doomed d where s.id = d.id;
  get diagnostics slow_jobs_deleted = row_count;
  return next;
end;
$$;

-- On Supabase, where pg_cron and pg_net exist, the worker is swept every 10 seconds:
-- pg_cron posts to /functions/v1/worker with the service key, both read from Vault
-- (secrets 'gatehouse_functions_url' and 'gatehouse_service_key'). Elsewhere this is a
-- no-op and the local server's scheduler (or any cron) calls the worker instead.
create function public.schedule_worker_sweep() returns boolean
language plpgsql volatile set search_path = '' as $$
begin
  if to_regnamespace('cron') is null or to_regnamespace('net') is null
     or to_regnamespace('vault') is null then
    return false;
  end if;
  perform cron.schedule('gatehouse-worker-sweep', '10 seconds', $job$
      select net.http_post(
        url := (select decrypted_secret from vault.decrypted_secrets
                 where name = 'gatehouse_functions_url') || '/worker',
        headers := jsonb_build_object(
          'Content-Type', 'application/json',
          'Authorization', 'Bearer ' || (select decrypted_secret from vault.decrypted_secrets
                                          where name = 'gatehouse_service_key')),
        body := '{}'::jsonb,
        timeout_milliseconds := 30000)
  $job$);
  return true;
end;
$$;

select public.schedule_worker_sweep();

revoke all on function public.processing_held_queues() from public;
revoke all on function public.release_expired_leases() from public;
revoke all on function public.lease_jobs(bigint[], text, interval) from public;
revoke all on function public.claim_jobs(text, int, int, text[], boolean) from public;
revoke all on function public.complete_job(bigint, text) from public;
revoke all on function public.complete_jobs(bigint[], text) from public;
revoke all on function public.release_jobs(bigint[], text) from public;
revoke all on function public.extend_job_lease(bigint, text, int) from public;
revoke all on function public.fail_job(bigint, text, text, int, boolean, int) from public;
revoke all on function public.replay_dead_jobs(interval, text, text, bigint[], text) from public;
revoke all on function public.queue_health() from public;
revoke all on function public.purge_retention(interval, int) from public;
revoke all on function public.schedule_worker_sweep() from public;
revoke all on function public.audit_logs_append_only() from public;

grant execute on function public.processing_held_queues() to service_role;
grant execute on function public.release_expired_leases() to service_role;
grant execute on function public.lease_jobs(bigint[], text, interval) to service_role;
grant execute on function public.claim_jobs(text, int, int, text[], boolean) to service_role;
grant execute on function public.complete_job(bigint, text) to service_role;
grant execute on function public.complete_jobs(bigint[], text) to service_role;
grant execute on function public.release_jobs(bigint[], text) to service_role;
grant execute on function public.extend_job_lease(bigint, text, int) to service_role;
grant execute on function public.fail_job(bigint, text, text, int, boolean, int) to service_role;
grant execute on function public.replay_dead_jobs(interval, text, text, bigint[], text)
  to service_role;
grant execute on function public.queue_health() to service_role;
grant execute on function public.purge_retention(interval, int) to service_role;
