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

-- Takes `cost` tokens from bucket `key` (capacity `capacity`, refilling continuously at
-- `refill_per_second`). Denied takes leave the bucket unchanged and say how long until
-- `cost` tokens are there.
create function public.rate_limit_take(
  key text,
  capacity int,
  refill_per_second double precision,
  cost int default 1
) returns table (allowed boolean, remaining int, retry_after_ms int)
language plpgsql volatile set search_path = '' as $$
declare
  bucket_key alias for $1;
  -- clock_timestamp(), not now(): a transaction may wait for the row lock, and refill
  -- must count the time it actually takes its tokens.
  at_time timestamptz := clock_timestamp();
  current_tokens double precision;
  last_update timestamptz;
begin
  if capacity < 1 or refill_per_second <= 0 or cost < 0 then
    raise exception 'rate_limit_take: capacity must be >= 1, refill_per_second > 0, cost >= 0'
      using errcode = '22023';
  end if;

  insert into public.rate_limits as r (key, tokens, updated_at)
    values (bucket_key, capacity, at_time)
    on conflict on constraint rate_limits_pkey do nothing;

  select r.tokens, r.updated_at into current_tokens, last_update
    from public.rate_limits r where r.key = bucket_key for update;

  -- Re-read the clock after the lock: the wait counts as refill time.
  at_time := greatest(clock_timestamp(), last_update);
  current_tokens := least(
    capacity::double precision,
    current_tokens + extract(epoch from (at_time - last_update)) * refill_per_second
  );

  if current_tokens >= cost then
    update public.rate_limits r set tokens = current_tokens - cost, updated_at = at_time
      where r.key = bucket_key;
    return query select true, floor(current_tokens - cost)::int, 0;
  else
    update public.rate_limits r set tokens = current_tokens, updated_at = at_time
      where r.key = bucket_key;
    return query select false, floor(current_tokens)::int,
      ceil((cost - current_tokens) / refill_per_second * 1000)::int;
  end if;
end;
$$;

revoke all on function public.rate_limit_take(text, int, double precision, int) from public;
grant execute on function public.rate_limit_take(text, int, double precision, int) to service_role;
