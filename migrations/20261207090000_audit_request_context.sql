-- Audit rows name the request that made a change, whoever writes them (a trigger, a SQL
-- function, an insert). The admin API and other callers set transaction-local settings
-- before changing anything (functions/_shared/audit: withAuditContext):
--   gatehouse.actor       who: a user's id, 'service key', 'cli:<user>'
--   gatehouse.request_id  the request's X-Request-Id
--   gatehouse.client_ip   the client's address
--   gatehouse.user_agent  its User-Agent
-- and every audit row written in that transaction picks them up: the actor through
-- gatehouse.audit_actor(), the rest as column defaults, so the triggers and functions that
-- write audit rows need no parameter for them. Without the settings nothing changes: the
-- actor is the token subject or the database role, and the other columns stay null.

-- A setting of this transaction, or null when unset or empty.
create function gatehouse.audit_setting(name text) returns text
language sql stable set search_path = '' as $$
  select nullif(pg_catalog.current_setting(name, true), '')
$$;

-- The client address the transaction carries; null when it carries none or no address.
create function gatehouse.audit_client_ip() returns inet
language plpgsql stable set search_path = '' as $$
begin
  return gatehouse.audit_setting('gatehouse.client_ip')::inet;
exception when invalid_text_representation then
  return null;
end;
$$;

revoke execute on function gatehouse.audit_setting(text), gatehouse.audit_client_ip()
  from public, anon, authenticated;
grant execute on function gatehouse.audit_setting(text), gatehouse.audit_client_ip()
  to service_role;

alter table public.audit_logs
  alter column request_id set default gatehouse.audit_setting('gatehouse.request_id'),
  alter column ip set default gatehouse.audit_client_ip(),
  alter column user_agent set default gatehouse.audit_setting('gatehouse.user_agent');

-- Who is acting: the actor the transaction names (gatehouse.actor), else as before the
-- signed-in caller's token subject, else the role the session switched to, else the role
-- that logged in.
create or replace function gatehouse.audit_actor() returns text
language sql stable set search_path = '' as $$
  select coalesce(
    gatehouse.audit_setting('gatehouse.actor'),
    nullif(nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb
      operator(pg_catalog.->>) 'sub', ''),
    nullif(pg_catalog.current_setting('role', true), 'none'),
    session_user
  )
$$;
grant execute on function gatehouse.audit_actor() to service_role;

-- feature_flags.updated_by names the same actor as the change's audit row, not only the
-- database role (every change through the admin API would otherwise read `postgres`).
create or replace function public.feature_flags_touch() returns trigger
language plpgsql set search_path = '' as $$
begin
  new.updated_at := pg_catalog.now();
  new.updated_by := gatehouse.audit_actor();
  return new;
end;
$$;
alter table public.feature_flags alter column updated_by set default gatehouse.audit_actor();
