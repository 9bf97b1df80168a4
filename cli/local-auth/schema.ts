/**
 * Where the local sign-in keeps users and sessions: `auth.users` with the columns of
 * Supabase Auth's table that Gatehouse and supabase-js read, `auth.sessions` and
 * `auth.refresh_tokens`. Created only where missing and only by the local server in
 * development (a Supabase project has its own, owned by Supabase Auth), so the
 * tables' policies run unchanged here and there. No API role may touch them.
 */
export const LOCAL_AUTH_SCHEMA = `
create schema if not exists auth;

create table if not exists auth.users (
  id uuid primary key default gen_random_uuid(),
  aud varchar(255) not null default 'authenticated',
  role varchar(255) not null default 'authenticated',
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb not null default '{"provider": "email", "providers": ["email"]}',
  raw_user_meta_data jsonb not null default '{}',
  is_anonymous boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index if not exists users_email_key on auth.users (lower(email));

create table if not exists auth.sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table if not exists auth.refresh_tokens (
  id bigint generated always as identity primary key,
  token_hash text not null unique,
  user_id uuid not null references auth.users (id) on delete cascade,
  session_id uuid not null references auth.sessions (id) on delete cascade,
  revoked boolean not null default false,
  created_at timestamptz not null default now()
);

revoke all on auth.users, auth.sessions, auth.refresh_tokens from public;
do $$
declare
  api_role text;
begin
  foreach api_role in array array['anon', 'authenticated'] loop
    if exists (select from pg_roles where rolname = api_role) then
      execute format('revoke all on auth.users, auth.sessions, auth.refresh_tokens from %I',
                     api_role);
    end if;
  end loop;
end;
$$;
`;
