-- Hour rows of system_metrics (the roll-up of old minutes) are deleted once older than
-- `older_than`, oldest first, at most `max_rows` per call; minute rows and totals are never
-- touched. Without it the table grows by an hour row per series and hour, for ever.
-- Returns how many it deleted.
create function public.system_metrics_purge_hours(older_than interval, max_rows int default 10000)
returns bigint
language plpgsql security definer set search_path = '' as $$
declare
  purged bigint;
begin
  if older_than is null or older_than < interval '7 days' then
    raise exception 'system_metrics_purge_hours keeps at least 7 days of hour rows'
      using errcode = '22023';
  end if;
  with picked as (
    select m.name, m.labels, m.width, m.bucket
      from public.system_metrics m
     where m.width = interval '1 hour'
       and m.bucket < pg_catalog.now() - older_than
     order by m.bucket
     limit greatest(max_rows, 1)
       for update skip locked
  ), gone as (
    delete from public.system_metrics m
     using picked p
     where (m.name, m.labels, m.width, m.bucket) = (p.name, p.labels, p.width, p.bucket)
    returning 1
  )
  select count(*) into purged from gone;
  return purged;
end;
$$;

revoke all on function public.system_metrics_purge_hours(interval, int)
  from public, anon, authenticated;
grant execute on function public.system_metrics_purge_hours(interval, int) to service_role;
