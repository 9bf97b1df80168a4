-- audit_logs.at is named created_at, as every other table names the time a row was made
-- (and as the operators' documentation lists the audit columns). Its indexes follow; the
-- purge function, which names the column, is redefined with the new name.

alter table public.audit_logs rename column at to created_at;
alter index public.audit_logs_at rename to audit_logs_created_at;
alter index public.audit_logs_entity rename to audit_logs_entity_created_at;

create or replace function public.audit_logs_purge(older_than interval) returns bigint
language plpgsql security definer set search_path = '' as $$
declare
  deleted bigint;
begin
  if older_than is null or older_than < interval '30 days' then
    raise exception 'audit_logs_purge keeps at least 30 days of audit rows, asked for %',
      coalesce(older_than::text, 'null') using errcode = '22023';
  end if;
  perform pg_catalog.set_config('gatehouse.audit_purge', 'on', true);
  delete from public.audit_logs where created_at < pg_catalog.now() - older_than;
  get diagnostics deleted = row_count;
  perform pg_catalog.set_config('gatehouse.audit_purge', 'off', true);
  insert into public.audit_logs (actor, action, entity_type, after)
  values (
    gatehouse.audit_actor(),
    'audit_logs.purge',
    'audit_logs',
    pg_catalog.jsonb_build_object('older_than', older_than::text, 'deleted', deleted)
  );
  return deleted;
end;
$$;
