-- ingest_events: a delivery's events that were already stored cost no token of the
-- provider's (or WhatsApp number's) bucket. Before, the bucket was charged for every event
-- of the batch, so a provider redelivering stored events (Meta retrying a backlog after an
-- outage, a replay storm) was answered 429 once the bucket was spent and retried again,
-- when a 200 `duplicate` ends the retries. A batch with nothing new neither takes nor locks
-- the bucket. Everything else is as in 20261122080000_faster_ingest_events.sql (same
-- signature, outcomes and locking order); a throttled batch still stores nothing.

create or replace function public.ingest_events(p_provider text, p_events jsonb, p_limits jsonb)
returns table (slot int, outcome text, event_id bigint, job_id bigint, retry_after_ms int)
language plpgsql volatile set search_path = '' as $$
declare
  global_limit jsonb := p_limits -> 'global';
  sender_limit jsonb := p_limits -> 'sender';
  -- The batch in p_events order; event_ids[i] is set only for an event this call stored.
  slots int[];
  keys text[];
  kinds text[];
  senders text[];
  request_ids text[];
  event_ids bigint[];
  -- Senders of the stored events in sender order, the tokens each wants and is granted.
  bucket_senders text[];
  wants int[];
  granted int[];
  fast_keys text[];
  limited int[] := '{}';
  job_ids bigint[];
  job_event_ids bigint[];
  capacity int;
  refill double precision;
  cost int;
  i int;
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
    ),
    batch as (
      select i.slot, i.key, i.kind, i.sender, i.request_id,
             case when f.slot is not null then n.id end as event_id
        from input i
        left join firsts f on f.slot = i.slot
        left join inserted n on n.event_key = i.key
    )
    select b.*, w.*
      into slots, keys, kinds, senders, request_ids, event_ids, bucket_senders, wants
      from (select array_agg(b.slot), array_agg(b.key), array_agg(b.kind),
                   array_agg(b.sender), array_agg(b.request_id), array_agg(b.event_id)
              from batch b) b,
           (select array_agg(w.sender order by w.sender), array_agg(w.want order by w.sender)
              from (select b.sender, count(*)::int as want from batch b
                     where b.event_id is not null and b.sender is not null
                     group by b.sender) w) w;

    -- Per-sender buckets, taken in sender order; the earliest slots keep the tokens.
    if sender_limit is not null and jsonb_typeof(sender_limit) = 'object'
       and bucket_senders is not null then
      capacity := (sender_limit ->> 'capacity')::int;
      refill := (sender_limit ->> 'refill_per_second')::double precision;
      if capacity < 1 or refill <= 0 then
        raise exception 'rate limit: capacity must be >= 1 and refill_per_second > 0'
          using errcode = '22023';
      end if;
      -- Creates (full, less the grant) or locks each bucket, in sender order. The grant,
      -- least(want, capacity), travels in the new row: excluded.tokens = capacity - grant.
      -- Rows the where clause skips stay locked but are not returned.
      with fast as (
        insert into public.rate_limits as r (key, tokens, updated_at)
        select p_provider || ':sender:' || b.sender, capacity - least(b.want, capacity),
               clock_timestamp()
          from unnest(bucket_senders, wants) b(sender, want)
        on conflict on constraint rate_limits_pkey do update
          set (tokens, updated_at) = (
            select least(capacity::double precision,
                         r.tokens + extract(epoch from (a.at_time - r.updated_at)) * refill)
                     - (capacity - excluded.tokens),
                   a.at_time
              from (select greatest(clock_timestamp(), r.updated_at) as at_time) a)
          where r.tokens >= capacity - excluded.tokens
        returning r.key
      )
      select array_agg(f.key) into fast_keys from fast f;

      if cardinality(fast_keys) is distinct from cardinality(bucket_senders)
         or capacity < any(wants) then
        -- Some sender may get less than it wants: a bucket the statement above skipped is
        -- taken the exact slow way (its row is ours already, so order does not matter),
        -- and a sender wanting more than the capacity got the capacity.
        granted := array(select least(w.want, capacity)
                           from unnest(wants) with ordinality w(want, i) order by w.i);
        for i in
          select b.i from unnest(bucket_senders) with ordinality b(sender, i)
           where p_provider || ':sender:' || b.sender not in (select unnest(fast_keys))
           order by b.i
        loop
          granted[i] := public.rate_limit_take_up_to(
            p_provider || ':sender:' || bucket_senders[i], capacity, refill, wants[i]);
        end loop;

        with over as (
          select x.slot, x.event_id
            from (select s.slot, s.sender, s.event_id,
                         row_number() over (partition by s.sender order by s.slot) as n
                    from unnest(slots, senders, event_ids) s(slot, sender, event_id)
                   where s.event_id is not null and s.sender is not null) x
            join unnest(bucket_senders, granted) g(sender, granted) on g.sender = x.sender
           where x.n > g.granted
        ),
        marked as (
          update public.inbound_events ie set status = 'rate_limited'
            from over o where ie.id = o.event_id
        )
        select coalesce(array_agg(o.slot), '{}') into limited from over o;
      end if;
    end if;

    with enqueued as (
      insert into public.jobs (queue, kind, payload, dedupe_key, request_id)
      select p_provider, s.kind, jsonb_build_object('inbound_event_id', s.event_id),
             'inbound:' || p_provider || ':' || s.key, s.request_id
        from unnest(slots, keys, kinds, request_ids, event_ids)
          as s(slot, key, kind, request_id, event_id)
       where s.event_id is not null and not (s.slot = any(limited))
       order by s.key
      on conflict (dedupe_key) do nothing
      returning id, (payload ->> 'inbound_event_id')::bigint as event_id
    )
    select array_agg(e.id), array_agg(e.event_id) into job_ids, job_event_ids
      from enqueued e;

    -- The provider's bucket last: its row stays locked only until the commit. Taken at
    -- once when it holds the batch's cost before the refill, else by rate_limit_take.
    if global_limit is not null and jsonb_typeof(global_limit) = 'object' then
      capacity := (global_limit ->> 'capacity')::int;
      refill := (global_limit ->> 'refill_per_second')::double precision;
      -- Only what this call stored costs a token: redeliveries of stored events are free.
      cost := cardinality(array_remove(event_ids, null));
      if capacity < 1 or refill <= 0 then
        raise exception 'rate limit: capacity must be >= 1 and refill_per_second > 0'
          using errcode = '22023';
      end if;
      if cost = 0 then
        -- Nothing new: the bucket is neither taken nor locked.
        null;
      elsif cost <= capacity then
        insert into public.rate_limits as r (key, tokens, updated_at)
        values (global_limit ->> 'key', capacity - cost, clock_timestamp())
        on conflict on constraint rate_limits_pkey do update
          set (tokens, updated_at) = (
            select least(capacity::double precision,
                         r.tokens + extract(epoch from (a.at_time - r.updated_at)) * refill)
                     - cost,
                   a.at_time
              from (select greatest(clock_timestamp(), r.updated_at) as at_time) a)
          where r.tokens >= cost;
      end if;
      if cost > capacity or (cost > 0 and not found) then
        select * into taken from public.rate_limit_take(
          global_limit ->> 'key', capacity, refill, cost);
        if not taken.allowed then
          raise exception using errcode = 'GH429', message = taken.retry_after_ms::text;
        end if;
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
    select s.slot,
           case when s.event_id is null then 'duplicate'
                when s.slot = any(limited) then 'rate_limited'
                else 'accepted' end,
           s.event_id, j.job_id, 0
      from unnest(slots, event_ids) s(slot, event_id)
      left join unnest(job_event_ids, job_ids) j(event_id, job_id) on j.event_id = s.event_id
     order by s.slot;
end;
$$;

revoke all on function public.ingest_events(text, jsonb, jsonb) from public;
revoke execute on function public.ingest_events(text, jsonb, jsonb) from anon, authenticated;
grant execute on function public.ingest_events(text, jsonb, jsonb) to service_role;
