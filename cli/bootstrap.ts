/**
 * What Supabase already has and plain Postgres or PGlite lacks, created only where missing:
 * - roles `anon`, `authenticated` (nologin, noinherit) and `service_role` (also bypassrls),
 *   as Supabase defines them;
 * - schema `auth` with `auth.uid()`, `auth.role()` and `auth.jwt()`, reading the claims
 *   PostgREST puts in `request.jwt.claims` (and the legacy `request.jwt.claim.*` settings),
 *   with the same bodies as Supabase Auth's own migrations (supabase/auth, migrations
 *   20220224000811, 20220531120530 and 20240625163155);
 * - usage on `auth` and execute on those functions for the three roles (granted explicitly
 *   on functions it creates, so a later `revoke ... from public` does not lock them out).
 *
 * Every step reads the catalog first and acts only when something is missing, so on
 * Supabase (where `supabase_auth_admin` owns `auth` and its functions) the script changes
 * nothing: no `create or replace`, no grant that is already held.
 *
 * Roles are cluster-wide: runners in different databases of one server (parallel test
 * files) may create the same role at the same moment, so a duplicate is caught and ignored.
 * Everything else is per database and the runner serialises it with its advisory lock.
 */
export const BOOTSTRAP_SQL = `
do $bootstrap$
declare
  api_role record;
  role_name text;
  function_signature text;
begin
  for api_role in
    select * from (values
      ('anon', ''),
      ('authenticated', ''),
      ('service_role', ' bypassrls')
    ) as roles (name, options)
  loop
    if not exists (select from pg_catalog.pg_roles where rolname = api_role.name) then
      begin
        execute format('create role %I nologin noinherit%s', api_role.name, api_role.options);
      exception when duplicate_object or unique_violation then null;
      end;
    end if;
  end loop;

  if not exists (select from pg_catalog.pg_namespace where nspname = 'auth') then
    create schema auth;
  end if;

  if to_regprocedure('auth.uid()') is null then
    create function auth.uid()
      returns uuid
      language sql stable
      set search_path to ''
    as $fn$
      select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
      )::uuid
    $fn$;
    grant execute on function auth.uid() to anon, authenticated, service_role;
  end if;
  if to_regprocedure('auth.role()') is null then
    create function auth.role()
      returns text
      language sql stable
      set search_path to ''
    as $fn$
      select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
      )::text
    $fn$;
    grant execute on function auth.role() to anon, authenticated, service_role;
  end if;
  if to_regprocedure('auth.jwt()') is null then
    create function auth.jwt()
      returns jsonb
      language sql stable
      set search_path to ''
    as $fn$
      select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
      )::jsonb
    $fn$;
    grant execute on function auth.jwt() to anon, authenticated, service_role;
  end if;

  foreach role_name in array array['anon', 'authenticated', 'service_role'] loop
    if not has_schema_privilege(role_name, 'auth', 'usage') then
      execute format('grant usage on schema auth to %I', role_name);
    end if;
    foreach function_signature in array array['auth.uid()', 'auth.role()', 'auth.jwt()'] loop
      if not has_function_privilege(role_name, function_signature, 'execute') then
        execute format('grant execute on function %s to %I', function_signature, role_name);
      end if;
    end loop;
  end loop;
end
$bootstrap$;
`;
