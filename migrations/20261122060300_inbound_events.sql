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
--
-- Locking order, so concurrent batches never deadlock and never queue behind each other
-- for long: events are inserted in key order, sender buckets are taken in sender order,
-- and the provider's bucket is taken last, so its row is locked only until the commit a
-- few statements later. A throttled batch is rolled back to nothing. Set-based
-- statements throughout: the cost per batch is a handful of statements, not per event.
create function public.ingest_events(p_provider text, p_events jsonb, p_limits jsonb)
returns table (slot int, outcome text, event_id bigint, job_id bigint, retry_after_ms int)
language plpgsql volatile set search_path = '' as $$
declare
  global_limit jsonb := p_limits -> 'global';
  sender_limit jsonb := p_limits -> 'sender';
  batch jsonb;
  limited int[] := '{}';
  jobs_by_event jsonb := '{}';
  sender_row record;
  granted int;
  taken record;
begin
  if jsonb_typeof(p_events) is distinct from 'array' then
    raise exception 'ingest_events: p_events must be a JSON array' using errcode = '22023';
  end if;

  begin
    -- Store new events (in key order); the first slot of a key new to the table is
    -- 'accepted', every other slot with that key is a 'duplicate'.
    with input as (
      select (e ->> 'slot')::int as slot, e ->> 'key' as key, e ->> 'type' as type,
             e ->> 'kind' as kind, e ->> 'sender' as sender, e -> 'payload' as payload,
             e ->> 'request_id' as request_id
        from jsonb_array_elements(p_events) e
    ),
    firsts as (
      select distinct on (i.key) i.slot, i.key from input i order by i.key, i.slot
    ),
    inserted as (
      insert into public.inbound_events as ie
          (provider, event_key, event_type, sender, payload, request_id)
      select p_provider, i.key, i.type, i.sender, i.payload, i.request_id
        from input i join firsts f on f.slot = i.slot
       order by i.key
      on conflict on constraint inbound_events_provider_event_key do nothing
      returning ie.id, ie.event_key
    )
    select coalesce(jsonb_agg(jsonb_build_object(
             'slot', i.slot, 'key', i.key, 'kind', i.kind, 'sender', i.sender,
             'request_id', i.request_id,
             'event_id', case when f.slot is not null then n.id end,
             'outcome', case when f.slot is not null and n.id is not null
                             then 'accepted' else 'duplicate' end)), '[]'::jsonb)
      into batch
      from input i
      left join firsts f on f.slot = i.slot
      left join inserted n on n.event_key = i.key;

    -- Per-sender buckets, taken in sender order; the earliest slots keep the tokens.
    if sender_limit is not null and jsonb_typeof(sender_limit) = 'object' then
      for sender_row in
        select b.sender, count(*)::int as wanted
          from jsonb_to_recordset(batch) as b(slot int, sender text, outcome text)
         where b.outcome = 'accepted' and b.sender is not null
         group by b.sender order by b.sender
      loop
        granted := public.rate_limit_take_up_to(
          p_provider || ':sender:' || sender_row.sender,
          (sender_limit ->> 'capacity')::int,
          (sender_limit ->> 'refill_per_second')::double precision,
          sender_row.wanted);
        if granted < sender_row.wanted then
          limited := limited || array(
            select b.slot from jsonb_to_recordset(batch) as b(slot int, sender text, outcome text)
             where b.outcome = 'accepted' and b.sender = sender_row.sender
             order by b.slot offset granted);
        end if;
      end loop;
      if cardinality(limited) > 0 then
        update public.inbound_events ie set status = 'rate_limited'
          from jsonb_to_recordset(batch) as b(slot int, event_id bigint)
         where b.slot = any(limited) and ie.id = b.event_id;
      end if;
    end if;

    with enqueued as (
      insert into public.jobs (queue, kind, payload, dedupe_key, request_id)
      select p_provider, b.kind, jsonb_build_object('inbound_event_id', b.event_id),
             'inbound:' || p_provider || ':' || b.key, b.request_id
        from jsonb_to_recordset(batch)
          as b(slot int, key text, kind text, request_id text, event_id bigint, outcome text)
       where b.outcome = 'accepted' and not (b.slot = any(limited))
       order by b.key
      on conflict (dedupe_key) do nothing
      returning id, payload ->> 'inbound_event_id' as inbound_event_id
    )
    select coalesce(jsonb_object_agg(e.inbound_event_id, e.id), '{}'::jsonb)
      into jobs_by_event from enqueued e;

    -- The provider's bucket last: its row stays locked only until the commit.
    if global_limit is not null and jsonb_typeof(global_limit) = 'object' then
      select * into taken from public.rate_limit_take(
        global_limit ->> 'key',
        (global_limit ->> 'capacity')::int,
        (global_limit ->> 'refill_per_second')::double precision,
        jsonb_array_length(p_events));
      if not taken.allowed then
        raise exception using errcode = 'GH429', message = taken.retry_after_ms::text;
      end if;
    end if;
  exception when sqlstate 'GH429' then
    -- Everything in the block above is rolled back: a throttled batch writes nothing.
    return query
      select (e ->> 'slot')::int, 'throttled'::text, null::bigint, null::bigint,
             sqlerrm::int
        from jsonb_array_elements(p_events) e;
    return;
  end;

  return query
    select b.slot,
           case when b.slot = any(limited) then 'rate_limited' else b.outcome end,
           b.event_id,
           (jobs_by_event ->> b.event_id::text)::bigint,
           0
      from jsonb_to_recordset(batch) as b(slot int, outcome text, event_id bigint)
     order by b.slot;
end;
$$;

revoke all on function public.ingest_events(text, jsonb, jsonb) from public;
grant execute on function public.ingest_events(text, jsonb, jsonb) to service_role;
