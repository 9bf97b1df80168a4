-- claim_jobs plans its statements once per connection instead of at every call.
--
-- A plpgsql statement's plan is cached, but Postgres keeps making a custom plan for each
-- call while a generic plan looks costlier than the custom ones it has seen. claim_jobs's
-- statements (a `limit` taken from a variable, array filters) stayed on custom plans: every
-- claim planned its statements again, most of an empty claim's time (pgbench, one
-- connection: an empty claim 0.11-0.15 ms against 0.35-0.41 ms; enqueueing, claiming and
-- completing one job 0.97-1.16 ms against 1.13-1.37 ms; claiming and completing one job of
-- a 100,000-job backlog 0.72-0.91 ms against 0.84-1.18 ms). `plan_cache_mode =
-- force_generic_plan` keeps the generic plans, which walk the same indexes as the custom
-- ones did, made on a new (empty) database included: `jobs_claim` in claim order for every
-- queue, `jobs_due` and `jobs_running_queue` for a constrained queue, the primary key for
-- the leases, `jobs_lease` for expired ones (enable_sort = off still rules out reading
-- every due job to sort them). The functions claim_jobs calls run under its setting too.
--
-- A claim limited to some queues (`p_queues`, a worker started for named queues) is the
-- exception: the best index depends on which queues, so its statement is planned for the
-- queues given at each call (dynamic SQL is planned with its values), as before.
-- The signature, results and grants are unchanged by `create or replace`.

create or replace function public.claim_jobs(
  p_worker text,
  p_limit int,
  p_lease_seconds int default 60,
  p_queues text[] default null,
  p_release_leases boolean default true
) returns setof public.jobs
language plpgsql volatile
set search_path = '' set enable_sort = off set plan_cache_mode = force_generic_plan as $$
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

  if remaining > 0 and p_queues is null then
    return query select * from public.lease_jobs(array(
      select j.id from public.jobs j
       where j.status = 'pending' and j.run_at <= now()
         and not (j.queue = any(constrained))
         and not (j.queue = any(held) or split_part(j.queue, ':', 1) = any(held))
       order by j.priority desc, j.run_at, j.id
       limit remaining
       for update skip locked), p_worker, lease);
  elsif remaining > 0 then
    return query execute
      'select * from public.lease_jobs(array(
         select j.id from public.jobs j
          where j.status = ''pending'' and j.run_at <= now()
            and j.queue = any($1)
            and not (j.queue = any($2))
            and not (j.queue = any($3) or split_part(j.queue, '':'', 1) = any($3))
          order by j.priority desc, j.run_at, j.id
          limit $4
          for update skip locked), $5, $6)'
      using p_queues, constrained, held, remaining, p_worker, lease;
  end if;
end;
$$;
