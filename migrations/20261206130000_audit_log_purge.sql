-- The audit log records where a request came from, and has exactly one way to shrink:
-- public.audit_logs_purge(older_than), which keeps at least 30 days and leaves a row saying
-- what it deleted and who asked.

alter table public.audit_logs
  add column ip inet,
  add column user_agent text;
comment on column public.audit_logs.ip is 'The client address of the request that did it, if any.';
comment on column public.audit_logs.user_agent is 'The User-Agent of that request, if any.';

-- Still refuses update, delete and truncate, except the deletes audit_logs_purge makes
-- (it marks its own transaction). Only the table's owner may delete at all, so no API role
-- can use that mark; an owner can always drop the trigger, and this trigger is not meant to
-- stop one.
create or replace function public.audit_logs_append_only() returns trigger
language plpgsql set search_path = '' as $$
begin
  if tg_op = 'DELETE' and pg_catalog.current_setting('gatehouse.audit_purge', true) = 'on' then
    return old;
  end if;
  raise exception 'audit_logs is append-only: % is not allowed', tg_op using errcode = '42501';
end;
$$;

create function public.audit_logs_purge(older_than interval) returns bigint
language plpgsql security definer set search_path = '' as $$
declare
  deleted bigint;
begin
  if older_than is null or older_than < interval '30 days' then
    raise exception 'audit_logs_purge keeps at least 30 days of audit rows, asked for %',
      coalesce(older_than::text, 'null') using errcode = '22023';
  end if;
  perform pg_catalog.set_config('gatehouse.audit_purge', 'on', true);
  delete from public.audit_logs where at < pg_catalog.now() - older_than;
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
comment on function public.audit_logs_purge(interval) is
  'Deletes audit rows older than older_than (at least 30 days) and records that it did.';
revoke execute on function public.audit_logs_purge(interval) from public, anon, authenticated;
grant execute on function public.audit_logs_purge(interval) to service_role;
