-- Every accepted webhook event, once per (provider, event_key), and the one-round-trip
-- intake function that rate-limits, stores and enqueues atomically.

create table public.inbound_events (
  id bigint generated always as identity primary key,
  provider text not null,
  event_key text not null,
  event_type text not null,
  status text not null default 'accepted'
    check (status in ('accepted', 'rate_limited', 'processed', 'failed')),
  sender text,
  payload jsonb not null,
  request_id text,
  received_at timestamptz not null default now(),
  constraint inbound_events_provider_event_key unique (provider, event_key)
);

create index inbound_events_received_at on public.inbound_events (received_at);

alter table public.inbound_events enable row level security;

-- Platform table: only the service role reads or writes events.
create policy "service role manages inbound events" on public.inbound_events
  for all to service_role using (true) with check (true);

revoke all on public.inbound_events from anon, authenticated;
grant select, insert, update, delete on public.inbound_events to service_role;

-- WhatsApp messages in and out, for the reference app and support staff.
create table public.whatsapp_logs (
  id bigint generated always as identity primary key,
  direction text not null check (direction in ('inbound', 'outbound')),
  wa_message_id text not null unique,
  phone_number_id text,
  contact_phone text,
  message_type text,
  body text,
  inbound_event_id bigint references public.inbound_events (id) on delete set null,
  request_id text,
  created_at timestamptz not null default now()
);

create index whatsapp_logs_contact on public.whatsapp_logs (contact_phone, created_at desc);

alter table public.whatsapp_logs enable row level security;

-- Service role only: message logs hold other people's phone numbers and texts.
create policy "service role manages whatsapp logs" on public.whatsapp_logs
  for all to service_role using (true) with check (true);

revoke all on public.whatsapp_logs from anon, authenticated;
grant select, insert, update, delete on public.whatsapp_logs to service_role;

-- ingest_events: one call per intake batch (one or more requests of one provider).
--   p_events: [{"slot": int, "key": text, "type": text, "kind": text, "sender": text|null,
--               "payload": json, "request_id": text|null}]
--   p_limits: {"global": {"key", "capacity", "refill_per_second"} | null,
--              "sender": {"capacity", "refill_per_second"} | null}
-- Returns one row per event: outcome 'accepted' (stored, job enqueued), 'duplicate'
-- (already stored: nothing written), 'rate_limited' (sender over its limit: stored, no
-- job) or 'throttled' (provider over its global limit: nothing written, retry later).
create function public.ingest_events(p_provider text, p_events jsonb, p_limits jsonb)
returns table (slot int, outcome text, event_id bigint, job_id bigint, retry_after_ms int)
language plpgsql volatile set search_path = '' as $$
declare
  event jsonb;
  global_limit jsonb := p_limits -> 'global';
  sender_limit jsonb := p_limits -> 'sender';
  taken record;
  new_event_id bigint;
  new_job_id bigint;
begin
  if jsonb_typeof(p_events) is distinct from 'array' then
    raise exception 'ingest_events: p_events must be a JSON array' using errcode = '22023';
  end if;

  -- The provider-wide bucket is taken once for the whole batch, so the global row is
  -- locked once per commit rather than once per event.
  if global_limit is not null and jsonb_typeof(global_limit) = 'object' then
    select * into taken from public.rate_limit_take(
      global_limit ->> 'key',
      (global_limit ->> 'capacity')::int,
      (global_limit ->> 'refill_per_second')::double precision,
      jsonb_array_length(p_events));
    if not taken.allowed then
      return query
        select (e ->> 'slot')::int, 'throttled'::text, null::bigint, null::bigint,
               taken.retry_after_ms
          from jsonb_array_elements(p_events) e;
      return;
    end if;
  end if;

  for event in select * from jsonb_array_elements(p_events) loop
    insert into public.inbound_events as ie
        (provider, event_key, event_type, sender, payload, request_id)
      values (p_provider, event ->> 'key', event ->> 'type', event ->> 'sender',
              event -> 'payload', event ->> 'request_id')
      on conflict on constraint inbound_events_provider_event_key do nothing
      returning ie.id into new_event_id;

    if new_event_id is null then
      return query select (event ->> 'slot')::int, 'duplicate'::text, null::bigint,
        null::bigint, 0;
      continue;
    end if;

    if sender_limit is not null and jsonb_typeof(sender_limit) = 'object'
       and event ->> 'sender' is not null then
      select * into taken from public.rate_limit_take(
        p_provider || ':sender:' || (event ->> 'sender'),
        (sender_limit ->> 'capacity')::int,
        (sender_limit ->> 'refill_per_second')::double precision,
        1);
      if not taken.allowed then
        update public.inbound_events set status = 'rate_limited' where id = new_event_id;
        return query select (event ->> 'slot')::int, 'rate_limited'::text, new_event_id,
          null::bigint, taken.retry_after_ms;
        continue;
      end if;
    end if;

    insert into public.jobs (queue, kind, payload, dedupe_key, request_id)
      values (p_provider, event ->> 'kind',
              jsonb_build_object('inbound_event_id', new_event_id),
              'inbound:' || p_provider || ':' || (event ->> 'key'),
              event ->> 'request_id')
      on conflict (dedupe_key) do nothing
      returning id into new_job_id;

    return query select (event ->> 'slot')::int, 'accepted'::text, new_event_id, new_job_id, 0;
  end loop;
end;
$$;

revoke all on function public.ingest_events(text, jsonb, jsonb) from public;
grant execute on function public.ingest_events(text, jsonb, jsonb) to service_role;
