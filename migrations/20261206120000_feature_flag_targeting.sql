-- Feature flags gain targeting, a version that tells instances when to re-read them, and
-- an audit row for every change, whoever makes it (the admin API, the service key or a
-- person in SQL studio):
--   update feature_flags set rollout_percent = 25 where key = 'rides.pooling';
--
-- Evaluation order (functions/_shared/flags/evaluate.ts): enabled (the kill switch), then
-- environments, then groups, then the sticky rollout (MurmurHash3 of 'key:subject' mod
-- 100 below rollout_percent), then min_app_version (semver). Empty arrays target nobody
-- out: no groups admits every caller, no environments every environment.

alter table public.feature_flags
  add column rollout_percent int not null default 100
    constraint feature_flags_rollout_percent check (rollout_percent between 0 and 100),
  add column groups text[] not null default '{}'
    constraint feature_flags_groups check (array_position(groups, null) is null),
  add column environments text[] not null default '{}'
    constraint feature_flags_environments check (array_position(environments, null) is null),
  add column min_app_version text
    -- Semver 2.0.0: MAJOR.MINOR.PATCH without leading zeros, optional -pre.release, +build.
    constraint feature_flags_min_app_version check (min_app_version ~ (
      '^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)'
      '(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?'
      '(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$'));

comment on column public.feature_flags.rollout_percent is
  'Share of subjects (users) it is on for, 0-100; sticky: raising it only adds subjects.';
comment on column public.feature_flags.groups is
  'On only for callers in one of these groups (a user''s role or app_metadata.groups); empty: all.';
comment on column public.feature_flags.environments is
  'On only where GATEHOUSE_ENV is one of these (development, production); empty: everywhere.';
comment on column public.feature_flags.min_app_version is
  'Off for apps older than this semver (the X-App-Version header) or that send none.';

-- One row counting committed changes to feature_flags. Instances compare it once a second
-- and re-read the flags only when it moved. It is bumped inside the changing transaction, so
-- it becomes visible together with the change, never before it.
create table gatehouse.feature_flags_version (
  id boolean primary key default true check (id),
  version bigint not null default 0
);
insert into gatehouse.feature_flags_version default values;

alter table gatehouse.feature_flags_version enable row level security;
create policy "service role reads the flags version" on gatehouse.feature_flags_version
  for select to service_role using (true);
revoke all on gatehouse.feature_flags_version from public, anon, authenticated;
grant select on gatehouse.feature_flags_version to service_role;

-- Security definer, so whoever may change flags bumps the version without a grant of its own
-- on it; it does nothing else.
create function gatehouse.feature_flags_bump_version() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  update gatehouse.feature_flags_version set version = version + 1;
  return null;
end;
$$;
revoke execute on function gatehouse.feature_flags_bump_version() from public;

create trigger feature_flags_bump_version
  after insert or update or delete or truncate on public.feature_flags
  for each statement execute function gatehouse.feature_flags_bump_version();

-- Who is acting: the signed-in caller's token subject when the statement carries their
-- claims (the admin API acts as the service role with the admin's claims), else the role the
-- session switched to (service_role behind the service key), else the role that logged in
-- (postgres in SQL studio). Unlike current_user, none of these change inside a security
-- definer function.
create function gatehouse.audit_actor() returns text
language sql stable set search_path = '' as $$
  select coalesce(
    nullif(nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb
      operator(pg_catalog.->>) 'sub', ''),
    nullif(pg_catalog.current_setting('role', true), 'none'),
    session_user
  )
$$;
revoke execute on function gatehouse.audit_actor() from public;

-- Every changed row leaves an audit row: the caller's token subject when the change came with
-- one (the admin API runs as the service role with the admin's claims), else the database
-- role that made it (service_role for the service key, postgres for SQL studio).
create function gatehouse.feature_flags_audit() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if tg_op = 'UPDATE' and old is not distinct from new then
    return null;
  end if;
  insert into public.audit_logs (actor, action, entity_type, entity_id, before, after)
  values (
    gatehouse.audit_actor(),
    'feature_flag.' || lower(tg_op),
    'feature_flag',
    coalesce(new.key, old.key),
    case when tg_op = 'INSERT' then null else pg_catalog.to_jsonb(old) end,
    case when tg_op = 'DELETE' then null else pg_catalog.to_jsonb(new) end
  );
  return null;
end;
$$;
revoke execute on function gatehouse.feature_flags_audit() from public;

create trigger feature_flags_audit
  after insert or update or delete on public.feature_flags
  for each row execute function gatehouse.feature_flags_audit();
