-- Locks: a message's row, then its endpoint's (the lock under which the endpoint's attempts in
-- flight are counted and its queue moves), always in that order and `for no key update`, so
-- the rows that reference them (attempts, messages) can still be inserted meanwhile.
--
-- Outbound webhooks: the endpoints an app's events are delivered to, the events emitted
-- inside business transactions (a transactional outbox), one message per event and
-- subscribed endpoint, and every delivery attempt. Platform tables: service role only.

-- An event type: dot-separated lower-case words (`ride.completed`). A subscription pattern
-- is a type, a type prefix ending in `.*` (`ride.*`), or `*` for every event.
create function gatehouse.webhook_patterns_valid(patterns text[]) returns boolean
language sql immutable set search_path = '' as $$
  select coalesce(bool_and(p ~ '^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$' and length(p) <= 200), false)
    from pg_catalog.unnest(patterns) as p
$$;

create function gatehouse.webhook_type_matches(patterns text[], event_type text) returns boolean
language sql immutable set search_path = '' as $$
  select exists (
    select 1 from pg_catalog.unnest(patterns) as p
     where p = '*' or p = event_type
        or (p like '%.*' and pg_catalog.left(event_type, length(p) - 1) = pg_catalog.left(p, -1))
  )
$$;

create table public.webhook_endpoints (
  id uuid primary key default gen_random_uuid(),
  url text not null check (length(url) between 10 and 2048 and url ~ '^https?://'),
  description text not null default '' check (length(description) <= 500),
  event_types text[] not null
    check (cardinality(event_types) between 1 and 50 and gatehouse.webhook_patterns_valid(event_types)),
  status text not null default 'active' check (status in ('active', 'paused', 'disabled')),
  -- Why it is paused or disabled (an operator's words, `410 Gone`, failing since ...).
  status_reason text check (length(status_reason) <= 500),
  -- Deliveries a second (null: no limit) and at once.
  rate_limit_per_second int check (rate_limit_per_second between 1 and 10000),
  max_in_flight int not null default 4 check (max_in_flight between 1 and 64),
  -- The first failure since its last success; a long enough streak disables it.
  failing_since timestamptz,
  -- Bumped by every change (optimistic locking in the admin API).
  version int not null default 1,
  created_by text not null default gatehouse.audit_actor(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- What an operator decides about an endpoint, without the delivery bookkeeping.
create function gatehouse.webhook_endpoint_settings(e public.webhook_endpoints) returns jsonb
language sql immutable set search_path = '' as $$
  select pg_catalog.to_jsonb(e) - 'failing_since' - 'updated_at' - 'version'
$$;

-- A change of settings bumps the version (optimistic locking) and leaves an audit row
-- naming who made it; the deliveries' own bookkeeping (failing_since) does neither.
create function gatehouse.webhook_endpoints_touch() returns trigger
language plpgsql set search_path = '' as $$
begin
  if gatehouse.webhook_endpoint_settings(new) is distinct from gatehouse.webhook_endpoint_settings(old) then
    new.version := old.version + 1;
    new.updated_at := now();
  end if;
  return new;
end;
$$;
create trigger webhook_endpoints_touch before update on public.webhook_endpoints
  for each row execute function gatehouse.webhook_endpoints_touch();

create function gatehouse.webhook_endpoints_audit() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if tg_op = 'UPDATE' and gatehouse.webhook_endpoint_settings(new)
       is not distinct from gatehouse.webhook_endpoint_settings(old) then
    return null;
  end if;
  insert into public.audit_logs (actor, action, entity_type, entity_id, before, after)
  values (gatehouse.audit_actor(), 'webhook_endpoint.' || lower(tg_op), 'webhook_endpoint',
          coalesce(new.id, old.id)::text,
          case when tg_op = 'INSERT' then null else pg_catalog.to_jsonb(old) end,
          case when tg_op = 'DELETE' then null else pg_catalog.to_jsonb(new) end);
  return null;
end;
$$;
revoke execute on function gatehouse.webhook_endpoints_audit() from public;
create trigger webhook_endpoints_audit
  after insert or update or delete on public.webhook_endpoints
  for each row execute function gatehouse.webhook_endpoints_audit();

-- Signing secrets, encrypted by the platform before they are stored (never in clear text).
-- A rotation sets the old secret's expires_at (the overlap): until then both sign.
create table public.webhook_endpoint_secrets (
  id uuid primary key default gen_random_uuid(),
  endpoint_id uuid not null references public.webhook_endpoints (id) on delete cascade,
  ciphertext text not null check (length(ciphertext) between 20 and 2000),
  -- The secret's last characters, so people can tell secrets apart.
  hint text not null check (length(hint) <= 8),
  created_at timestamptz not null default now(),
  expires_at timestamptz
);
create index webhook_endpoint_secrets_endpoint on public.webhook_endpoint_secrets (endpoint_id);

-- Secrets added, given an end (rotation) or removed are audited by their hint, never
-- their ciphertext.
create function gatehouse.webhook_endpoint_secrets_audit() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  view_old jsonb := case when tg_op = 'INSERT' then null else pg_catalog.jsonb_build_object(
    'secret_id', old.id, 'hint', old.hint, 'expires_at', old.expires_at) end;
  view_new jsonb := case when tg_op = 'DELETE' then null else pg_catalog.jsonb_build_object(
    'secret_id', new.id, 'hint', new.hint, 'expires_at', new.expires_at) end;
begin
  if tg_op = 'UPDATE' and view_old is not distinct from view_new then return null; end if;
  insert into public.audit_logs (actor, action, entity_type, entity_id, before, after)
  values (gatehouse.audit_actor(),
          'webhook_endpoint.secret_' || case tg_op when 'INSERT' then 'added'
                                               when 'UPDATE' then 'changed' else 'removed' end,
          'webhook_endpoint', coalesce(new.endpoint_id, old.endpoint_id)::text,
          view_old, view_new);
  return null;
end;
$$;
revoke execute on function gatehouse.webhook_endpoint_secrets_audit() from public;
create trigger webhook_endpoint_secrets_audit
  after insert or update or delete on public.webhook_endpoint_secrets
  for each row execute function gatehouse.webhook_endpoint_secrets_audit();

create table public.outbound_events (
  id bigint generated always as identity primary key,
  -- `webhook-id` of every delivery of this event, the same on each endpoint and retry.
  message_id text not null unique
    default ('msg_' || replace(gen_random_uuid()::text, '-', '')),
  type text not null check (length(type) <= 200 and type ~ '^[a-z0-9_]+(\.[a-z0-9_]+)*$'),
  payload jsonb not null,
  ordering_key text check (length(ordering_key) between 1 and 200),
  created_at timestamptz not null default now()
);
create index outbound_events_created on public.outbound_events (created_at);

-- One per event and subscribed endpoint: where its delivery stands.
--   pending     a delivery job will try it
--   queued      its endpoint had max_in_flight attempts out: the next to finish lets it go
--   waiting     an earlier message with its ordering key is not finished yet
--   delivering  an attempt is out (until lease_until)
--   held        the endpoint is paused or disabled: kept for when it is back
--   succeeded   a 2xx came back
--   failed      every attempt failed (replayable)
create table public.outbound_messages (
  id bigint generated always as identity primary key,
  event_id bigint not null references public.outbound_events (id) on delete cascade,
  endpoint_id uuid not null references public.webhook_endpoints (id) on delete cascade,
  ordering_key text,
  status text not null default 'pending'
    check (status in ('pending', 'queued', 'waiting', 'delivering', 'held', 'succeeded', 'failed')),
  attempts int not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz,
  lease_until timestamptz,
  -- The job whose attempt holds the lease: its own retry (the attempt's transaction failed)
  -- may go again at once, anyone else waits for the lease.
  lease_job bigint,
  last_error text check (length(last_error) <= 1000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  unique (event_id, endpoint_id)
);
create index outbound_messages_endpoint on public.outbound_messages (endpoint_id, status, id);
create index outbound_messages_open_keys on public.outbound_messages (endpoint_id, ordering_key, id)
  where ordering_key is not null and status not in ('succeeded', 'failed');
create index outbound_messages_delivering on public.outbound_messages (endpoint_id)
  where status = 'delivering';
create index outbound_messages_queued on public.outbound_messages (endpoint_id, id)
  where status = 'queued';

-- Every attempt: what came back and how long it took.
create table public.webhook_deliveries (
  id bigint generated always as identity primary key,
  message_id bigint not null references public.outbound_messages (id) on delete cascade,
  endpoint_id uuid not null references public.webhook_endpoints (id) on delete cascade,
  event_id bigint not null references public.outbound_events (id) on delete cascade,
  attempt int not null check (attempt >= 1),
  outcome text not null check (outcome in ('succeeded', 'failed', 'gone')),
  status_code int,
  duration_ms int not null check (duration_ms >= 0),
  error text check (length(error) <= 1000),
  response_excerpt text check (octet_length(response_excerpt) <= 4096),
  created_at timestamptz not null default now()
);
create index webhook_deliveries_endpoint on public.webhook_deliveries (endpoint_id, created_at desc);
create index webhook_deliveries_message on public.webhook_deliveries (message_id, attempt);

do $$
declare t text;
begin
  foreach t in array array['webhook_endpoints', 'webhook_endpoint_secrets', 'outbound_events',
                           'outbound_messages', 'webhook_deliveries'] loop
    execute format('alter table public.%I enable row level security', t);
    execute format('create policy "service role manages %s" on public.%I for all to service_role
                      using (true) with check (true)', t, t);
    execute format('revoke all on public.%I from anon, authenticated', t);
    execute format('grant select, insert, update, delete on public.%I to service_role', t);
  end loop;
end;
$$;

-- The delivery job of a message that may go now.
create function gatehouse.webhook_enqueue(p_message bigint, p_run_at timestamptz)
returns void language sql volatile set search_path = '' as $$
  insert into public.jobs (queue, kind, payload, run_at, max_attempts)
  values ('webhooks', 'webhook.deliver', pg_catalog.jsonb_build_object('message_id', p_message),
          p_run_at, 3)
$$;

-- The oldest waiting message behind a finished one with the same ordering key goes next.
create function gatehouse.webhook_promote_next(p_endpoint uuid, p_key text)
returns void language plpgsql volatile set search_path = '' as $$
declare next_id bigint;
begin
  if p_key is null then return; end if;
  select m.id into next_id from public.outbound_messages m
   where m.endpoint_id = p_endpoint and m.ordering_key = p_key
     and m.status not in ('succeeded', 'failed')
   order by m.id limit 1 for no key update;
  if next_id is null then return; end if;
  update public.outbound_messages m set status = 'pending', updated_at = now()
   where m.id = next_id and m.status = 'waiting';
  if found then perform gatehouse.webhook_enqueue(next_id, now()); end if;
end;
$$;

-- Attempts at an endpoint ended: as many queued messages as it has free slots go next,
-- oldest first.
create function gatehouse.webhook_promote_queued(p_endpoint uuid)
returns void language plpgsql volatile set search_path = '' as $$
declare
  free int;
begin
  select e.max_in_flight - (select count(*) from public.outbound_messages o
                             where o.endpoint_id = e.id and o.status = 'delivering'
                               and o.lease_until > now())
    into free
    from public.webhook_endpoints e where e.id = p_endpoint for no key update;
  if free is null or free < 1 then return; end if;
  with next as (
    update public.outbound_messages o set status = 'pending', updated_at = now()
     where o.id in (select q.id from public.outbound_messages q
                     where q.endpoint_id = p_endpoint and q.status = 'queued'
                     order by q.id limit free for no key update skip locked)
    returning o.id
  )
  insert into public.jobs (queue, kind, payload, max_attempts)
  select 'webhooks', 'webhook.deliver', pg_catalog.jsonb_build_object('message_id', next.id), 3
    from next order by next.id;
end;
$$;

-- Emits an event inside the caller's transaction: it exists, and its deliveries are
-- queued, exactly when that transaction commits. One message per subscribed endpoint
-- (held while the endpoint is paused or disabled; waiting behind an unfinished earlier
-- event with the same ordering key). Returns the event's id.
create function public.emit_event(type text, payload jsonb, ordering_key text default null)
returns bigint language plpgsql volatile set search_path = '' as $$
declare
  event_type alias for $1;
  event_key alias for $3;
  new_event bigint;
begin
  if event_type is null or length(event_type) > 200
     or event_type !~ '^[a-z0-9_]+(\.[a-z0-9_]+)*$' then
    raise exception 'emit_event: type must be dot-separated lower-case words, got %',
      pg_catalog.left(coalesce(event_type, 'null'), 60) using errcode = '22023';
  end if;
  if payload is null then
    raise exception 'emit_event: payload must not be null' using errcode = '22023';
  end if;
  if event_key is not null then
    -- Emitters of one key take turns, so each sees the earlier one's messages.
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('outbound:' || event_key));
  end if;
  insert into public.outbound_events (type, payload, ordering_key)
  values (event_type, payload, event_key) returning id into new_event;
  with made as (
    insert into public.outbound_messages (event_id, endpoint_id, ordering_key, status)
    select new_event, e.id, event_key,
           case when e.status <> 'active' then 'held'
                when event_key is not null and exists (
                  select 1 from public.outbound_messages o
                   where o.endpoint_id = e.id and o.ordering_key = event_key
                     and o.status not in ('succeeded', 'failed')) then 'waiting'
                else 'pending' end
      from public.webhook_endpoints e
     where gatehouse.webhook_type_matches(e.event_types, event_type)
    returning id, status
  )
  insert into public.jobs (queue, kind, payload, max_attempts)
  select 'webhooks', 'webhook.deliver', pg_catalog.jsonb_build_object('message_id', made.id), 3
    from made where made.status = 'pending';
  return new_event;
end;
$$;

-- Starts an attempt at message p_message, or says why not:
--   go          deliver now (the message is `delivering` until p_lease_ms from now)
--   done        already succeeded or failed
--   held        its endpoint is paused or disabled (the message is kept)
--   waiting     an earlier message with its ordering key is unfinished
--   busy        another job's attempt at it is out (retry_in_ms: until its lease ends)
--   queued      the endpoint has max_in_flight attempts out: queued until one ends
--   throttled   the endpoint's rate limit is spent (retry_in_ms: when a token is back)
create function public.webhook_message_begin(p_message bigint, p_lease_ms int, p_job bigint)
returns table (outcome text, retry_in_ms int, attempt int, endpoint_id uuid, url text,
               secrets text[], message_id text, event_type text, payload jsonb,
               emitted_at timestamptz)
language plpgsql volatile set search_path = '' as $$
declare
  m public.outbound_messages;
  e public.webhook_endpoints;
  ev public.outbound_events;
  out_now int;
  taken record;
begin
  select * into m from public.outbound_messages o where o.id = p_message for no key update;
  if not found or m.status in ('succeeded', 'failed') then
    return query select 'done'::text, 0, 0, null::uuid, null::text, null::text[], null::text,
      null::text, null::jsonb, null::timestamptz;
    return;
  end if;
  -- The endpoint's row is the lock under which its attempts in flight are counted.
  select * into e from public.webhook_endpoints w where w.id = m.endpoint_id for no key update;
  if e.status <> 'active' then
    update public.outbound_messages o set status = 'held', lease_until = null, updated_at = now()
     where o.id = m.id;
    return query select 'held'::text, 0, m.attempts, e.id, null::text, null::text[], null::text,
      null::text, null::jsonb, null::timestamptz;
    return;
  end if;
  if m.status = 'delivering' and m.lease_until > now() and m.lease_job is distinct from p_job then
    return query select 'busy'::text,
      greatest(1, ceil(extract(epoch from m.lease_until - now()) * 1000))::int, m.attempts, e.id,
      null::text, null::text[], null::text, null::text, null::jsonb, null::timestamptz;
    return;
  end if;
  if m.ordering_key is not null and exists (
    select 1 from public.outbound_messages o
     where o.endpoint_id = m.endpoint_id and o.ordering_key = m.ordering_key and o.id < m.id
       and o.status not in ('succeeded', 'failed')) then
    update public.outbound_messages o set status = 'waiting', lease_until = null, updated_at = now()
     where o.id = m.id;
    return query select 'waiting'::text, 0, m.attempts, e.id, null::text, null::text[],
      null::text, null::text, null::jsonb, null::timestamptz;
    return;
  end if;
  select count(*) into out_now from public.outbound_messages o
   where o.endpoint_id = e.id and o.status = 'delivering' and o.lease_until > now()
     and o.id <> m.id;
  if out_now >= e.max_in_flight then
    update public.outbound_messages o set status = 'queued', lease_until = null, updated_at = now()
     where o.id = m.id;
    return query select 'queued'::text, 0, m.attempts, e.id, null::text, null::text[],
      null::text, null::text, null::jsonb, null::timestamptz;
    return;
  end if;
  if e.rate_limit_per_second is not null then
    select * into taken from public.rate_limit_take('webhook:' || e.id::text,
      e.rate_limit_per_second, e.rate_limit_per_second::double precision);
    if not taken.allowed then
      return query select 'throttled'::text, greatest(1, taken.retry_after_ms), m.attempts, e.id,
        null::text, null::text[], null::text, null::text, null::jsonb, null::timestamptz;
      return;
    end if;
  end if;
  update public.outbound_messages o
     set status = 'delivering', attempts = o.attempts + 1, lease_job = p_job,
         lease_until = now() + p_lease_ms * interval '1 millisecond', updated_at = now()
   where o.id = m.id;
  select * into ev from public.outbound_events x where x.id = m.event_id;
  return query select 'go'::text, 0, m.attempts + 1, e.id, e.url,
    (select coalesce(array_agg(s.ciphertext order by s.created_at desc), '{}')
       from public.webhook_endpoint_secrets s
      where s.endpoint_id = e.id and (s.expires_at is null or s.expires_at > now())),
    ev.message_id, ev.type, ev.payload, ev.created_at;
end;
$$;

-- Records attempt p_attempt of p_message and moves it on. p_outcome: `succeeded` (2xx),
-- `gone` (410: the endpoint is disabled, the message held) or `failed`: retried in
-- p_retry_in_ms, or given up when that is null; an endpoint failing since longer than
-- p_disable_after is disabled instead and the message held. Returns the message's status.
create function public.webhook_message_finish(
  p_message bigint,
  p_attempt int,
  p_outcome text,
  p_status_code int,
  p_duration_ms int,
  p_error text,
  p_excerpt text,
  p_retry_in_ms int,
  p_disable_after interval
) returns text
language plpgsql volatile set search_path = '' as $$
declare
  m public.outbound_messages;
  failing timestamptz;
  next_status text;
begin
  if p_outcome not in ('succeeded', 'failed', 'gone') then
    raise exception 'webhook_message_finish: unknown outcome %', p_outcome using errcode = '22023';
  end if;
  select * into m from public.outbound_messages o where o.id = p_message for no key update;
  if not found then return null; end if;
  perform 1 from public.webhook_endpoints w where w.id = m.endpoint_id for no key update;
  insert into public.webhook_deliveries
    (message_id, endpoint_id, event_id, attempt, outcome, status_code, duration_ms, error,
     response_excerpt)
  values (m.id, m.endpoint_id, m.event_id, p_attempt, p_outcome, p_status_code,
          greatest(p_duration_ms, 0), pg_catalog.left(p_error, 1000), p_excerpt);

  if p_outcome = 'succeeded' then
    update public.webhook_endpoints w set failing_since = null
     where w.id = m.endpoint_id and w.failing_since is not null;
    next_status := 'succeeded';
  elsif p_outcome = 'gone' then
    update public.webhook_endpoints w
       set status = 'disabled', status_reason = 'the endpoint answered 410 Gone',
           failing_since = coalesce(w.failing_since, now())
     where w.id = m.endpoint_id;
    next_status := 'held';
  else
    update public.webhook_endpoints w set failing_since = coalesce(w.failing_since, now())
     where w.id = m.endpoint_id returning w.failing_since into failing;
    if failing <= now() - p_disable_after then
      update public.webhook_endpoints w
         set status = 'disabled',
             status_reason = 'failing since ' || pg_catalog.to_char(failing at time zone 'UTC',
               'YYYY-MM-DD HH24:MI') || ' UTC'
       where w.id = m.endpoint_id and w.status = 'active';
      next_status := 'held';
    elsif p_retry_in_ms is null then
      next_status := 'failed';
    else
      next_status := 'pending';
    end if;
  end if;

  update public.outbound_messages o
     set status = next_status, lease_until = null, updated_at = now(),
         last_error = case when p_outcome = 'succeeded' then null
                           else pg_catalog.left(p_error, 1000) end,
         next_attempt_at = case when next_status = 'pending'
                                then now() + p_retry_in_ms * interval '1 millisecond' end,
         finished_at = case when next_status in ('succeeded', 'failed') then now() end
   where o.id = m.id;
  if next_status = 'pending' then
    perform gatehouse.webhook_enqueue(m.id, now() + p_retry_in_ms * interval '1 millisecond');
  elsif next_status in ('succeeded', 'failed') then
    perform gatehouse.webhook_promote_next(m.endpoint_id, m.ordering_key);
  end if;
  perform gatehouse.webhook_promote_queued(m.endpoint_id);
  return next_status;
end;
$$;

-- Puts an attempt that never went out (the endpoint's breaker was open) back, without
-- counting it, for another try in p_retry_in_ms.
create function public.webhook_message_release(p_message bigint, p_retry_in_ms int)
returns void language plpgsql volatile set search_path = '' as $$
declare ep uuid;
begin
  update public.outbound_messages o
     set status = 'pending', attempts = greatest(o.attempts - 1, 0), lease_until = null,
         next_attempt_at = now() + p_retry_in_ms * interval '1 millisecond', updated_at = now()
   where o.id = p_message and o.status = 'delivering'
  returning o.endpoint_id into ep;
  if found then
    perform gatehouse.webhook_enqueue(p_message, now() + p_retry_in_ms * interval '1 millisecond');
    perform gatehouse.webhook_promote_queued(ep);
  end if;
end;
$$;

-- An endpoint back to active (resumed, re-enabled): its held messages are queued again,
-- oldest first; messages with an ordering key still go one at a time. Returns how many.
create function public.webhook_endpoint_release_held(p_endpoint uuid)
returns int language plpgsql volatile set search_path = '' as $$
declare released int;
begin
  with held as (
    update public.outbound_messages o
       set status = 'pending', next_attempt_at = now(), updated_at = now()
     where o.endpoint_id = p_endpoint and o.status = 'held'
    returning o.id
  ), queued as (
    insert into public.jobs (queue, kind, payload, max_attempts)
    select 'webhooks', 'webhook.deliver', pg_catalog.jsonb_build_object('message_id', held.id), 3
      from held order by held.id
    returning 1
  )
  select count(*) into released from queued;
  return released;
end;
$$;

-- Replays an endpoint's messages of events emitted in [p_from, p_to): failed ones (and
-- succeeded ones too with p_succeeded), the next p_limit after message id p_after, oldest
-- first. Each goes back to pending with its attempts reset and a delivery job. Returns how
-- many, and the last message id looked at (the next call's p_after; null: nothing left).
create function public.webhook_messages_replay(
  p_endpoint uuid,
  p_from timestamptz,
  p_to timestamptz,
  p_succeeded boolean,
  p_after bigint,
  p_limit int
) returns table (replayed int, last_id bigint)
language plpgsql volatile set search_path = '' as $$
declare
  ids bigint[];
begin
  select array_agg(m.id order by m.id) into ids from (
    select m.id from public.outbound_messages m
      join public.outbound_events ev on ev.id = m.event_id
     where m.endpoint_id = p_endpoint and ev.created_at >= p_from and ev.created_at < p_to
       and m.id > coalesce(p_after, 0)
       and m.status in ('failed', 'succeeded')
     order by m.id limit p_limit
  ) m;
  if ids is null then
    return query select 0, null::bigint;
    return;
  end if;
  return query
  with reset as (
    update public.outbound_messages o
       set status = 'pending', attempts = 0, next_attempt_at = now(), finished_at = null,
           updated_at = now()
     where o.id = any(ids) and (o.status = 'failed' or (p_succeeded and o.status = 'succeeded'))
    returning o.id
  ), queued as (
    insert into public.jobs (queue, kind, payload, max_attempts)
    select 'webhooks', 'webhook.deliver', pg_catalog.jsonb_build_object('message_id', reset.id), 3
      from reset order by reset.id
    returning 1
  )
  select (select count(*) from queued)::int, ids[array_length(ids, 1)];
end;
$$;

-- Retention: events older than p_older_than whose every message has finished (succeeded or
-- given up) go, with their messages and attempts; at most p_batch events. Held, waiting and
-- pending deliveries are kept however old. Returns how many events went.
create function public.outbound_purge(p_older_than interval, p_batch int)
returns int language plpgsql volatile set search_path = '' as $$
declare purged int;
begin
  with old as (
    select ev.id from public.outbound_events ev
     where ev.created_at < now() - p_older_than
       and not exists (select 1 from public.outbound_messages m
                        where m.event_id = ev.id and m.status not in ('succeeded', 'failed'))
     order by ev.id limit p_batch
  ), gone as (
    delete from public.outbound_events ev using old where ev.id = old.id returning 1
  )
  select count(*) into purged from gone;
  return purged;
end;
$$;

do $$
declare f text;
begin
  foreach f in array array[
    'public.outbound_purge(interval, int)',
    'public.webhook_messages_replay(uuid, timestamptz, timestamptz, boolean, bigint, int)',
    'public.emit_event(text, jsonb, text)',
    'public.webhook_message_begin(bigint, int, bigint)',
    'public.webhook_message_finish(bigint, int, text, int, int, text, text, int, interval)',
    'public.webhook_message_release(bigint, int)',
    'public.webhook_endpoint_release_held(uuid)',
    'gatehouse.webhook_enqueue(bigint, timestamptz)',
    'gatehouse.webhook_promote_next(uuid, text)',
    'gatehouse.webhook_promote_queued(uuid)'
  ] loop
    execute format('revoke all on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end;
$$;
