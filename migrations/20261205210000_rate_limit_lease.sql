-- Takes up to `want` tokens at once from bucket `key` (what is there, when fewer): an
-- instance spends them locally, one per request, and comes back when they are gone, so a
-- busy caller costs the database one take per `want` requests instead of one each. Returns
-- how many it granted, how many the bucket still holds, and, when it granted none, the
-- milliseconds until one token is there.
create function public.rate_limit_lease(
  key text,
  capacity int,
  refill_per_second double precision,
  want int
) returns table (granted int, remaining int, retry_after_ms int)
language plpgsql volatile set search_path = '' as $$
declare
  bucket_key alias for $1;
  bucket record;
  given int;
begin
  if want < 1 then
    raise exception 'rate_limit_lease: want must be >= 1' using errcode = '22023';
  end if;
  select * into bucket from public.rate_limit_refill(bucket_key, capacity, refill_per_second);
  given := least(want, floor(bucket.tokens)::int);
  update public.rate_limits r
     set tokens = bucket.tokens - given, updated_at = bucket.at_time
   where r.key = bucket_key;
  return query select given, floor(bucket.tokens - given)::int,
    case when given > 0 then 0
         else ceil((1 - bucket.tokens) / refill_per_second * 1000)::int end;
end;
$$;

revoke all on function public.rate_limit_lease(text, int, double precision, int)
  from public, anon, authenticated;
grant execute on function public.rate_limit_lease(text, int, double precision, int)
  to service_role;
