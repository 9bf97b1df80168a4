-- rate_limit_take: a cost above the bucket's capacity waits for a full bucket and then
-- empties it, instead of being refused for ever.
--
-- Intake charges a WhatsApp business number's bucket (capacity 1,000) for the events a
-- delivery stores, and Meta may put more messages and statuses than that in one delivery
-- (its body limit is 3 MB). Such a delivery used to be answered 429 with a Retry-After that
-- could never come true: Meta retried it until it gave up, and its events were lost. Now it
-- is stored once the bucket is full, and the bucket is empty afterwards, so the number's rate
-- stays bounded by the capacity per refill plus at most one oversized delivery. The same holds
-- for a micro-batch of several deliveries whose events together pass the capacity. A denied
-- take's retry_after_ms is the time until the bucket holds min(cost, capacity).
--
-- ingest_events and ingest_event_groups send a cost above the capacity to this function (their
-- one-statement path takes only costs the bucket can hold), so both follow.

create or replace function public.rate_limit_take(
  key text,
  capacity int,
  refill_per_second double precision,
  cost int default 1
) returns table (allowed boolean, remaining int, retry_after_ms int)
language plpgsql volatile set search_path = '' as $$
declare
  bucket_key alias for $1;
  bucket record;
  taken int;
  granted boolean;
begin
  if cost < 0 then
    raise exception 'rate_limit_take: cost must be >= 0' using errcode = '22023';
  end if;
  select * into bucket from public.rate_limit_refill(bucket_key, capacity, refill_per_second);
  taken := least(cost, capacity);
  granted := bucket.tokens >= taken;
  update public.rate_limits r
     set tokens = bucket.tokens - case when granted then taken else 0 end,
         updated_at = bucket.at_time
   where r.key = bucket_key;
  if granted then
    return query select true, floor(bucket.tokens - taken)::int, 0;
  else
    return query select false, floor(bucket.tokens)::int,
      ceil((taken - bucket.tokens) / refill_per_second * 1000)::int;
  end if;
end;
$$;
