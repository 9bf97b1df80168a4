-- Circuit breakers shared by every instance: one row per upstream (the WhatsApp Graph API,
-- an outbound webhook endpoint...). A breaker is closed (calls go through), open (calls are
-- refused until retry_at, so a failing upstream is left alone and callers fail fast) or
-- half-open (one probe call is let through; its outcome closes or reopens the breaker).
-- It opens after `failure_threshold` consecutive failures, or when at least `minimum_calls`
-- calls in the current window failed in a share of at least `failure_ratio`.
-- Processes cache a breaker's state for about a second and write only what changes it
-- (failures, and successes that end a failure streak), so a healthy upstream costs no
-- write per call (functions/_shared/breaker).

create table public.circuit_breakers (
  name text primary key check (length(name) between 1 and 200),
  state text not null default 'closed' check (state in ('closed', 'open', 'half_open')),
  -- Failures since the last success.
  consecutive_failures int not null default 0 check (consecutive_failures >= 0),
  -- Calls and failures reported in the current window (it restarts once `window_ms` old).
  window_started_at timestamptz not null default now(),
  window_calls int not null default 0 check (window_calls >= 0),
  window_failures int not null default 0 check (window_failures >= 0),
  opened_at timestamptz,
  -- Open: the earliest time a probe may go.
  retry_at timestamptz,
  -- Half-open: the probe's lease; a probe that never reports is replaced after it.
  probe_until timestamptz,
  -- The last failure's description (no secrets: callers pass a status or an error kind).
  last_failure text check (length(last_failure) <= 500),
  updated_at timestamptz not null default now(),
  check (state <> 'open' or retry_at is not null),
  check (state <> 'half_open' or probe_until is not null)
);

alter table public.circuit_breakers enable row level security;
-- Platform table: only the service role reads or writes breakers.
create policy "service role manages circuit breakers" on public.circuit_breakers
  for all to service_role using (true) with check (true);
revoke all on public.circuit_breakers from anon, authenticated;
grant select, insert, update, delete on public.circuit_breakers to service_role;

-- May a call go to `p_name` now? Closed (or never failed): yes. Open before retry_at, or
-- half-open with a probe out: no, and how long until asking again makes sense. Open past
-- retry_at, or half-open with a probe that outlived its lease: yes, and this caller is the
-- probe (the breaker turns half-open, the probe's lease `p_probe_ms`); of any number asking
-- at once exactly one is.
create function public.circuit_breaker_acquire(p_name text, p_probe_ms int)
returns table (allowed boolean, state text, retry_in_ms int, consecutive_failures int)
language plpgsql volatile set search_path = '' as $$
declare
  b public.circuit_breakers;
  t timestamptz := pg_catalog.clock_timestamp();
begin
  if p_probe_ms is null or p_probe_ms < 1 then
    raise exception 'circuit_breaker_acquire: p_probe_ms must be >= 1' using errcode = '22023';
  end if;
  select * into b from public.circuit_breakers c where c.name = p_name for update;
  if not found or b.state = 'closed' then
    return query select true, 'closed'::text, 0, coalesce(b.consecutive_failures, 0);
    return;
  end if;
  if b.state = 'open' and t < b.retry_at then
    return query select false, 'open'::text,
      ceil(extract(epoch from b.retry_at - t) * 1000)::int, b.consecutive_failures;
    return;
  end if;
  if b.state = 'half_open' and t < b.probe_until then
    return query select false, 'half_open'::text,
      ceil(extract(epoch from b.probe_until - t) * 1000)::int, b.consecutive_failures;
    return;
  end if;
  update public.circuit_breakers c
     set state = 'half_open', probe_until = t + p_probe_ms * interval '1 millisecond',
         updated_at = t
   where c.name = p_name;
  return query select true, 'half_open'::text, 0, b.consecutive_failures;
end;
$$;

-- Reports calls to `p_name`: `p_successes` successes, then `p_failures` failures (0 or
-- more; the last call a failure when p_failures > 0). Policy (jsonb): failure_threshold,
-- failure_ratio (null: none), minimum_calls, window_ms, open_ms. Returns the state after.
-- Half-open: a success closes, a failure reopens for open_ms. Closed: opens on the
-- threshold or the ratio. Open: stays open (only a probe's report moves it).
create function public.circuit_breaker_record(
  p_name text,
  p_successes int,
  p_failures int,
  p_policy jsonb,
  p_failure text default null
) returns table (state text, retry_in_ms int, consecutive_failures int)
language plpgsql volatile set search_path = '' as $$
declare
  b public.circuit_breakers;
  t timestamptz := pg_catalog.clock_timestamp();
  threshold int := coalesce((p_policy ->> 'failure_threshold')::int, 5);
  ratio double precision := (p_policy ->> 'failure_ratio')::double precision;
  min_calls int := coalesce((p_policy ->> 'minimum_calls')::int, 20);
  window_ms int := coalesce((p_policy ->> 'window_ms')::int, 60000);
  open_ms int := coalesce((p_policy ->> 'open_ms')::int, 30000);
  streak int;
  calls int;
  failures int;
  window_start timestamptz;
  next_state text;
begin
  if p_successes < 0 or p_failures < 0 or p_successes + p_failures = 0 then
    raise exception 'circuit_breaker_record: report at least one call' using errcode = '22023';
  end if;
  insert into public.circuit_breakers as c (name) values (p_name)
  on conflict (name) do nothing;
  select * into b from public.circuit_breakers c where c.name = p_name for update;

  window_start := b.window_started_at;
  calls := b.window_calls;
  failures := b.window_failures;
  if t - window_start > window_ms * interval '1 millisecond' then
    window_start := t;
    calls := 0;
    failures := 0;
  end if;
  calls := calls + p_successes + p_failures;
  failures := failures + p_failures;
  streak := case when p_successes > 0 then 0 else b.consecutive_failures end + p_failures;

  next_state := b.state;
  if b.state = 'half_open' then
    next_state := case when p_failures > 0 then 'open' else 'closed' end;
  elsif b.state = 'closed' and p_failures > 0 and (
    streak >= threshold
    or (ratio is not null and calls >= min_calls and failures::double precision / calls >= ratio)
  ) then
    next_state := 'open';
  end if;

  update public.circuit_breakers c set
    state = next_state,
    consecutive_failures = streak,
    window_started_at = case when next_state = 'closed' and b.state <> 'closed' then t
                             else window_start end,
    window_calls = case when next_state = 'closed' and b.state <> 'closed' then 0 else calls end,
    window_failures = case when next_state = 'closed' and b.state <> 'closed' then 0
                           else failures end,
    opened_at = case when next_state = 'open' and b.state <> 'open' then t
                     when next_state = 'closed' then null else b.opened_at end,
    retry_at = case when next_state = 'open' and b.state <> 'open'
                      then t + open_ms * interval '1 millisecond'
                    when next_state = 'open' then b.retry_at else null end,
    probe_until = null,
    last_failure = case when p_failures > 0 then left(p_failure, 500) else b.last_failure end,
    updated_at = t
  where c.name = p_name
  returning c.state, c.retry_at, c.consecutive_failures into b.state, b.retry_at, streak;

  return query select b.state,
    case when b.state = 'open' then greatest(0, ceil(extract(epoch from b.retry_at - t) * 1000))::int
         else 0 end,
    streak;
end;
$$;

revoke all on function public.circuit_breaker_acquire(text, int) from public, anon, authenticated;
grant execute on function public.circuit_breaker_acquire(text, int) to service_role;
revoke all on function public.circuit_breaker_record(text, int, int, jsonb, text)
  from public, anon, authenticated;
grant execute on function public.circuit_breaker_record(text, int, int, jsonb, text)
  to service_role;
