-- Token buckets, same answers with less work on the hot path.
--
-- rate_limit_refill tried to insert the bucket before locking it, so every take of an
-- existing bucket (nearly all of them) paid a speculative insert that found the key taken:
-- about 64 µs of its 172. It now locks the row first and inserts only when there is none
-- (then locks what it or a concurrent taker inserted), so buckets are still created full
-- and concurrent takers still queue on the row lock.
--
-- rate_limit_lease (the user and admin APIs' read tiers take leases in the background as
-- requests run) does the refill itself instead of calling rate_limit_refill, which cost
-- another function call and a set-returning scan: one lookup that locks the row, one
-- update, the same grant. Signatures and grants are unchanged by `create or replace`.

create or replace function public.rate_limit_refill(
  key text,
  capacity int,
  refill_per_second double precision,
  out tokens double precision,
  out at_time timestamptz
)
language plpgsql volatile set search_path = '' as $$
declare
  bucket_key alias for $1;
  last_update timestamptz;
begin
  if capacity < 1 or refill_per_second <= 0 then
    raise exception 'rate limit: capacity must be >= 1 and refill_per_second > 0'
      using errcode = '22023';
  end if;
  select r.tokens, r.updated_at into tokens, last_update
    from public.rate_limits r where r.key = bucket_key for update;
  if not found then
    insert into public.rate_limits as r (key, tokens, updated_at)
      values (bucket_key, capacity, clock_timestamp())
      on conflict on constraint rate_limits_pkey do nothing;
    select r.tokens, r.updated_at into tokens, last_update
      from public.rate_limits r where r.key = bucket_key for update;
  end if;
  -- clock_timestamp(), not now(), read after the lock: a transaction may have waited for
  -- the row, and the wait counts as refill time.
  at_time := greatest(clock_timestamp(), last_update);
  tokens := least(
    capacity::double precision,
    tokens + extract(epoch from (at_time - last_update)) * refill_per_second
  );
end;
$$;

create or replace function public.rate_limit_lease(
  key text,
  capacity int,
  refill_per_second double precision,
  want int
) returns table (granted int, remaining int, retry_after_ms int)
language plpgsql volatile set search_path = '' as $$
declare
  bucket_key alias for $1;
  have double precision;
  last_update timestamptz;
  at_time timestamptz;
  given int;
begin
  if want < 1 then
    raise exception 'rate_limit_lease: want must be >= 1' using errcode = '22023';
  end if;
  if capacity < 1 or refill_per_second <= 0 then
    raise exception 'rate limit: capacity must be >= 1 and refill_per_second > 0'
      using errcode = '22023';
  end if;
  select r.tokens, r.updated_at into have, last_update
    from public.rate_limits r where r.key = bucket_key for update;
  if not found then
    -- A new bucket starts full, less this grant; a concurrent first take of the same key
    -- makes the insert do nothing, and this one then waits for its row like any other.
    given := least(want, capacity);
    insert into public.rate_limits as r (key, tokens, updated_at)
      values (bucket_key, capacity - given, clock_timestamp())
      on conflict on constraint rate_limits_pkey do nothing;
    if found then
      return query select given, capacity - given, 0;
      return;
    end if;
    select r.tokens, r.updated_at into have, last_update
      from public.rate_limits r where r.key = bucket_key for update;
  end if;
  at_time := greatest(clock_timestamp(), last_update);
  have := least(
    capacity::double precision,
    have + extract(epoch from (at_time - last_update)) * refill_per_second
  );
  given := least(want, floor(have)::int);
  update public.rate_limits r set tokens = have - given, updated_at = at_time
   where r.key = bucket_key;
  return query select given, floor(have - given)::int,
    case when given > 0 then 0
         else ceil((1 - have) / refill_per_second * 1000)::int end;
end;
$$;
