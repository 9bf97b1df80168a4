-- Idempotency-Key (IETF draft "The Idempotency-Key HTTP Header Field") for the user API:
-- the first answer to a POST or PATCH, kept per (user, key) with a fingerprint of the
-- request, so a retry gets the same answer instead of doing the work twice. Kept in the
-- database so every instance sees it. A row is `running` while its first request runs
-- (another request with the key then gets 409), `done` once answered. `locked_until`
-- bounds `running`: a request that died past it leaves the key to the next retry.
-- Rows past `expires_at` are as good as gone; the hourly retention job deletes them.

create table public.idempotency_keys (
  user_id uuid not null,
  key text not null check (key ~ '^[A-Za-z0-9_-]{1,255}$'),
  fingerprint text not null,
  state text not null default 'running' check (state in ('running', 'done')),
  status smallint,
  headers jsonb,
  body text,
  created_at timestamptz not null default now(),
  locked_until timestamptz not null,
  expires_at timestamptz not null,
  primary key (user_id, key)
);

create index idempotency_keys_expires_at on public.idempotency_keys (expires_at);

alter table public.idempotency_keys enable row level security;

-- Service role only: the API keeps these rows for its callers; users never read them.
create policy "service role manages idempotency keys" on public.idempotency_keys
  for all to service_role using (true) with check (true);

revoke all on public.idempotency_keys from anon, authenticated;
grant select, insert, update, delete on public.idempotency_keys to service_role;
