-- Token buckets in Postgres, exact under concurrency: the bucket row is locked for the
-- read-refill-take, so concurrent takers queue on it and never admit more than
-- capacity + refill.

create table public.rate_limits (
  key text primary key,
  tokens double precision not null,
  updated_at timestamptz not null
);

alter table public.rate_limits enable row level security;

-- Platform table: only the service role reads or writes buckets.
create policy "service role manages rate limits" on public.rate_limits
  for all to service_role using (true) with check (true);

revoke all on public.rate_limits from anon, authenticated;
grant select, insert, update, delete on public.rate_limits to service_role;

-- Locks bucket `key` (creating it full if missing) and returns its tokens refilled up to
-- now, and the time that refill counts to. Callers take tokens and write the row back in
-- the same transaction, so concurrent takers queue on the row lock and never over-admit.
create function public.rate_limit_refill(
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
  insert into public.rate_limits as r (key, tokens, updated_at)
    values (bucket_key, capacity, clock_timestamp())
    on conflict on constraint rate_limits_pkey do nothing;
  select r.tokens, r.updated_at into tokens, last_update
    from public.rate_limits r where r.key = bucket_key for update;
  -- clock_timestamp(), not now(), read after the lock: a transaction may have waited for
  -- the row, and the wait counts as refill time.
  at_time := greatest(clock_timestamp(), last_update);
  tokens := least(
    capacity::double precision,
    tokens + extract(epoch from (at_time - last_update)) * refill_per_second
  );
end;
$$;

revoke all on function public.rate_limit_refill(text, int, double precision) from public;

-- Takes `cost` tokens from bucket `key` (capacity `capacity`, refilling continuously at
-- `refill_per_second`). A denied take takes nothing and says how long until `cost` tokens
-- are there.
create function public.rate_limit_take(
  key text,
  capacity int,
  refill_per_second double precision,
  cost int default 1
) returns table (allowed boolean, remaining int, retry_after_ms int)
language plpgsql volatile set search_path = '' as $$
declare
  bucket_key alias for $1;
  bucket record;
  granted boolean;
begin
  if cost < 0 then
    raise exception 'rate_limit_take: cost must be >= 0' using errcode = '22023';
  end if;
  select * into bucket from public.rate_limit_refill(bucket_key, capacity, refill_per_second);
  granted := bucket.tokens >= cost;
  update public.rate_limits r
     set tokens = bucket.tokens - case when granted then cost else 0 end,
         updated_at = bucket.at_time
   where r.key = bucket_key;
  if granted then
    return query select true, floor(bucket.tokens - cost)::int, 0;
  else
    return query select false, floor(bucket.tokens)::int,
      ceil((cost - bucket.tokens) / refill_per_second * 1000)::int;
  end if;
end;
$$;

revoke all on function public.rate_limit_take(text, int, double precision, int) from public;
grant execute on function public.rate_limit_take(text, int, double precision, int) to service_role;

-- Grants up to `want` tokens from bucket `key` and returns how many it granted: a batch
-- takes what a sender has left in one statement.
create function public.rate_limit_take_up_to(
  key text,
  capacity int,
  refill_per_second double precision,
  want int
) returns int
language plpgsql volatile set search_path = '' as $$
declare
  bucket_key alias for $1;
  bucket record;
  granted int;
begin
  if want < 0 then
    raise exception 'rate_limit_take_up_to: want must be >= 0' using errcode = '22023';
  end if;
  select * into bucket from public.rate_limit_refill(bucket_key, capacity, refill_per_second);
  granted := least(want, floor(bucket.tokens)::int);
  update public.rate_limits r set tokens = bucket.tokens - granted, updated_at = bucket.at_time
   where r.key = bucket_key;
  return granted;
end;
$$;

revoke all on function public.rate_limit_take_up_to(text, int, double precision, int) from public;
grant execute on function public.rate_limit_take_up_to(text, int, double precision, int)
  to service_role;
