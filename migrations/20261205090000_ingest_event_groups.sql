-- ingest_event_groups: the batches of several groups (a group is a provider with its limits,
-- e.g. one WhatsApp number) stored by one set-based call. Before, a commit that carried
-- deliveries for 32 WhatsApp numbers ran ingest_events 32 times, each paying its fixed cost
-- (about half a millisecond of Postgres CPU), so load spread over many numbers cost Postgres
-- several times more per delivery than load on one number.
--
-- p_groups is a JSON array of {"provider", "limits", "events"}, with events and limits as
-- ingest_events takes them. The answer is ingest_events' rows tagged with the group's index
-- in p_groups (`part`, from 0), and the outcomes are those of calling ingest_events once per
-- group, in p_groups order, in one transaction:
-- - the first slot of a (provider, key) new to the table is 'accepted', every other slot
--   with that (provider, key) a 'duplicate', across groups too;
-- - per-sender buckets ("<provider>:sender:<sender>") grant the earliest slots (by part,
--   then slot) first; a sender's other new events are stored as 'rate_limited';
-- - each group's provider bucket is charged for the events the group stored (duplicates
--   are free); a group whose bucket is short stores nothing and every slot is 'throttled'.
-- Locks are taken in one order whatever the groups (events by provider and key, sender
-- buckets by key, jobs by dedupe key, provider buckets by key), so concurrent calls queue
-- instead of deadlocking. When a provider bucket is short, or the groups' sender limits
-- differ, or two groups name one provider bucket, the set-based pass is rolled back and the
-- groups run through ingest_events one by one, which answers each group on its own.

create function public.ingest_event_groups(p_groups jsonb)
returns table (part int, slot int, outcome text, event_id bigint, job_id bigint,
               retry_after_ms int)
language plpgsql volatile set search_path = '' as $$
declare
  -- Every slot of every group in (part, slot) order; event_ids[i] is set only for an event
  -- this call stored.
  parts int[];
  slots int[];
  providers text[];
  keys text[];
  kinds text[];
  senders text[];
  request_ids text[];
  event_ids bigint[];
  -- Groups with per-sender buckets, and the one sender limit they share.
  sender_parts int[];
  sender_limits int;
  capacity int;
  refill double precision;
  -- Sender buckets of the stored events in key order, the tokens each wants and is granted.
  s_keys text[];
  s_wants int[];
  s_granted int[];
  fast_keys text[];
  limited bigint[] := '{}';
  -- Provider buckets in key order, what each group's stored events cost, and its limit.
  g_keys text[];
  g_costs int[];
  g_caps int[];
  g_refills double precision[];
  job_ids bigint[];
  job_event_ids bigint[];
  i int;
  taken record;
  grp record;
begin
  if jsonb_typeof(p_groups) is distinct from 'array' then
    raise exception 'ingest_event_groups: p_groups must be a JSON array' using errcode = '22023';
  end if;
  if exists (select from jsonb_array_elements(p_groups) g
              where jsonb_typeof(g -> 'events') is distinct from 'array'
                 or jsonb_typeof(g -> 'provider') is distinct from 'string') then
    raise exception 'ingest_event_groups: every group needs a provider and an events array'
      using errcode = '22023';
  end if;

  begin
    with groups as (
      select (g.n - 1)::int as part, g.value ->> 'provider' as provider,
             g.value -> 'events' as events
        from jsonb_array_elements(p_groups) with ordinality g(value, n)
    ),
    input as (
      select gr.part, (e ->> 'slot')::int as slot, gr.provider, e ->> 'key' as key,
             e ->> 'type' as type, e ->> 'kind' as kind, e ->> 'sender' as sender,
             e -> 'payload' as payload, e ->> 'request_id' as request_id
        from groups gr cross join lateral jsonb_array_elements(gr.events) e
    ),
    firsts as (
      select distinct on (i.provider, i.key) i.part, i.slot
        from input i order by i.provider, i.key, i.part, i.slot
    ),
    inserted as (
      insert into public.inbound_events as ie
          (provider, event_key, event_type, sender, payload, request_id)
      select i.provider, i.key, i.type, i.sender, i.payload, i.request_id
        from input i join firsts f on f.part = i.part and f.slot = i.slot
       order by i.provider, i.key
      on conflict on constraint inbound_events_provider_event_key do nothing
      returning ie.id, ie.provider, ie.event_key
    ),
    batch as (
      select i.part, i.slot, i.provider, i.key, i.kind, i.sender, i.request_id,
             case when f.slot is not null then n.id end as event_id
        from input i
        left join firsts f on f.part = i.part and f.slot = i.slot
        left join inserted n on n.provider = i.provider and n.event_key = i.key
    )
    select array_agg(b.part order by b.part, b.slot), array_agg(b.slot order by b.part, b.slot),
           array_agg(b.provider order by b.part, b.slot), array_agg(b.key order by b.part, b.slot),
           array_agg(b.kind order by b.part, b.slot), array_agg(b.sender order by b.part, b.slot),
           array_agg(b.request_id order by b.part, b.slot),
           array_agg(b.event_id order by b.part, b.slot)
      into parts, slots, providers, keys, kinds, senders, request_ids, event_ids
      from batch b;

    if parts is null then
      return;
    end if;

    -- Per-sender buckets, taken in key order; the earliest slots keep the tokens.
    select array_agg(x.part), count(distinct (x.l ->> 'capacity', x.l ->> 'refill_per_second')),
           min((x.l ->> 'capacity')::int), min((x.l ->> 'refill_per_second')::double precision)
      into sender_parts, sender_limits, capacity, refill
      from (select (g.n - 1)::int as part, g.value -> 'limits' -> 'sender' as l
              from jsonb_array_elements(p_groups) with ordinality g(value, n)) x
     where jsonb_typeof(x.l) = 'object';
    if sender_limits > 1 then
      raise exception using errcode = 'GH409', message = 'groups with different sender limits';
    end if;
    if sender_limits = 1 then
      if capacity < 1 or refill <= 0 then
        raise exception 'rate limit: capacity must be >= 1 and refill_per_second > 0'
          using errcode = '22023';
      end if;
      select array_agg(w.key order by w.key), array_agg(w.want order by w.key)
        into s_keys, s_wants
        from (select s.provider || ':sender:' || s.sender as key, count(*)::int as want
                from unnest(parts, providers, senders, event_ids)
                       s(part, provider, sender, event_id)
               where s.event_id is not null and s.sender is not null
                 and s.part = any(sender_parts)
               group by 1) w;
    end if;

    if s_keys is not null then
      -- Creates (full, less the grant) or locks each bucket, in key order. The grant,
      -- least(want, capacity), travels in the new row: excluded.tokens = capacity - grant.
      -- Rows the where clause skips stay locked but are not returned.
      with fast as (
        insert into public.rate_limits as r (key, tokens, updated_at)
        select b.key, capacity - least(b.want, capacity), clock_timestamp()
          from unnest(s_keys, s_wants) b(key, want)
         order by b.key
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

      if cardinality(fast_keys) is distinct from cardinality(s_keys)
         or capacity < any(s_wants) then
        -- A bucket the statement above skipped is taken the exact slow way (its row is
        -- ours already), and a sender wanting more than the capacity got the capacity.
        s_granted := array(select least(w.want, capacity)
                             from unnest(s_wants) with ordinality w(want, n) order by w.n);
        for i in
          select b.n from unnest(s_keys) with ordinality b(key, n)
           where b.key <> all(coalesce(fast_keys, '{}')) order by b.n
        loop
          s_granted[i] := public.rate_limit_take_up_to(s_keys[i], capacity, refill, s_wants[i]);
        end loop;

        with over as (
          select x.event_id
            from (select s.provider || ':sender:' || s.sender as key, s.event_id,
                         row_number() over (partition by s.provider, s.sender
                                            order by s.part, s.slot) as n
                    from unnest(parts, slots, providers, senders, event_ids)
                           s(part, slot, provider, sender, event_id)
                   where s.event_id is not null and s.sender is not null
                     and s.part = any(sender_parts)) x
            join unnest(s_keys, s_granted) g(key, granted) on g.key = x.key
           where x.n > g.granted
        ),
        marked as (
          update public.inbound_events ie set status = 'rate_limited'
            from over o where ie.id = o.event_id
        )
        select coalesce(array_agg(o.event_id), '{}') into limited from over o;
      end if;
    end if;

    with enqueued as (
      insert into public.jobs (queue, kind, payload, dedupe_key, request_id)
      select s.provider, s.kind, jsonb_build_object('inbound_event_id', s.event_id),
             'inbound:' || s.provider || ':' || s.key, s.request_id
        from unnest(providers, keys, kinds, request_ids, event_ids)
          as s(provider, key, kind, request_id, event_id)
       where s.event_id is not null and s.event_id <> all(limited)
       order by 'inbound:' || s.provider || ':' || s.key
      on conflict (dedupe_key) do nothing
      returning id, (payload ->> 'inbound_event_id')::bigint as event_id
    )
    select array_agg(e.id), array_agg(e.event_id) into job_ids, job_event_ids
      from enqueued e;

    -- The provider buckets last, in key order: their rows stay locked only until the
    -- commit. Only what a group stored costs it tokens.
    select array_agg(c.key order by c.key), array_agg(c.cost order by c.key),
           array_agg(c.capacity order by c.key), array_agg(c.refill order by c.key)
      into g_keys, g_costs, g_caps, g_refills
      from (select x.l ->> 'key' as key, (x.l ->> 'capacity')::int as capacity,
                   (x.l ->> 'refill_per_second')::double precision as refill,
                   (select count(*)::int from unnest(parts, event_ids) s(part, event_id)
                     where s.part = x.part and s.event_id is not null) as cost
              from (select (g.n - 1)::int as part, g.value -> 'limits' -> 'global' as l
                      from jsonb_array_elements(p_groups) with ordinality g(value, n)) x
             where jsonb_typeof(x.l) = 'object') c;

    if g_keys is not null then
      if exists (select from unnest(g_caps, g_refills) b(capacity, refill)
                  where b.capacity < 1 or b.refill <= 0) then
        raise exception 'rate limit: capacity must be >= 1 and refill_per_second > 0'
          using errcode = '22023';
      end if;
      if cardinality(g_keys) <> (select count(distinct k) from unnest(g_keys) k) then
        raise exception using errcode = 'GH409', message = 'groups sharing a provider bucket';
      end if;
      -- Taken at once where a bucket holds the cost before the refill (the cost travels in
      -- the new row: excluded.tokens = capacity - cost), else by rate_limit_take.
      with fast as (
        insert into public.rate_limits as r (key, tokens, updated_at)
        select b.key, b.capacity - b.cost, clock_timestamp()
          from unnest(g_keys, g_costs, g_caps) b(key, cost, capacity)
         where b.cost > 0 and b.cost <= b.capacity
         order by b.key
        on conflict on constraint rate_limits_pkey do update
          set (tokens, updated_at) = (
            select least(g_caps[a.n]::double precision,
                         r.tokens + extract(epoch from (a.at_time - r.updated_at))
                           * g_refills[a.n])
                     - g_costs[a.n],
                   a.at_time
              from (select array_position(g_keys, excluded.key) as n,
                           greatest(clock_timestamp(), r.updated_at) as at_time) a)
          where r.tokens >= g_costs[array_position(g_keys, excluded.key)]
        returning r.key
      )
      select array_agg(f.key) into fast_keys from fast f;

      for i in
        select b.n from unnest(g_keys, g_costs) with ordinality b(key, cost, n)
         where b.cost > 0 and b.key <> all(coalesce(fast_keys, '{}')) order by b.n
      loop
        select * into taken from public.rate_limit_take(g_keys[i], g_caps[i], g_refills[i],
                                                         g_costs[i]);
        if not taken.allowed then
          raise exception using errcode = 'GH429', message = 'a provider bucket is short';
        end if;
      end loop;
    end if;
  exception when sqlstate 'GH429' or sqlstate 'GH409' then
    -- Everything above is rolled back: each group runs on its own, in p_groups order.
    for grp in
      select (g.n - 1)::int as part, g.value
        from jsonb_array_elements(p_groups) with ordinality g(value, n) order by g.n
    loop
      return query
        select grp.part, r.slot, r.outcome, r.event_id, r.job_id, r.retry_after_ms
          from public.ingest_events(grp.value ->> 'provider', grp.value -> 'events',
                                    grp.value -> 'limits') r;
    end loop;
    return;
  end;

  return query
    select s.part, s.slot,
           case when s.event_id is null then 'duplicate'
                when s.event_id = any(limited) then 'rate_limited'
                else 'accepted' end,
           s.event_id, j.job_id, 0
      from unnest(parts, slots, event_ids) s(part, slot, event_id)
      left join unnest(job_event_ids, job_ids) j(event_id, job_id) on j.event_id = s.event_id
     order by s.part, s.slot;
end;
$$;

revoke all on function public.ingest_event_groups(jsonb) from public;
revoke execute on function public.ingest_event_groups(jsonb) from anon, authenticated;
grant execute on function public.ingest_event_groups(jsonb) to service_role;
