-- The job queue: every accepted webhook event becomes a job; workers claim due jobs with
-- `for update skip locked` and a lease. Dead jobs move to dead_jobs with every error.

create table public.jobs (
  id bigint generated always as identity primary key,
  queue text not null default 'default',
  kind text not null,
  payload jsonb not null default '{}'::jsonb,
  priority int not null default 0,
  status text not null default 'pending' check (status in ('pending', 'running', 'completed')),
  run_at timestamptz not null default now(),
  attempts int not null default 0 check (attempts >= 0),
  max_attempts int not null default 5 check (max_attempts >= 1),
  locked_by text,
  lease_expires_at timestamptz,
  last_error text,
  errors jsonb not null default '[]'::jsonb,
  dedupe_key text unique,
  request_id text,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz
);

comment on column public.jobs.errors is 'Every failed attempt: [{attempt, error, at}]';

-- Claim order: due pending jobs by priority then age; expired leases are claimable again.
create index jobs_due on public.jobs (queue, priority desc, run_at, id) where status = 'pending';
create index jobs_lease on public.jobs (lease_expires_at) where status = 'running';
create index jobs_completed on public.jobs (completed_at) where status = 'completed';

create table public.dead_jobs (
  id bigint primary key,
  queue text not null,
  kind text not null,
  payload jsonb not null,
  priority int not null,
  attempts int not null,
  max_attempts int not null,
  errors jsonb not null,
  last_error text,
  dedupe_key text,
  request_id text,
  created_at timestamptz not null,
  dead_at timestamptz not null default now()
);

create index dead_jobs_dead_at on public.dead_jobs (dead_at);

alter table public.jobs enable row level security;
alter table public.dead_jobs enable row level security;

-- Platform tables: only the service role (workers, operators) reads or writes them.
create policy "service role manages jobs" on public.jobs
  for all to service_role using (true) with check (true);
create policy "service role manages dead jobs" on public.dead_jobs
  for all to service_role using (true) with check (true);

revoke all on public.jobs, public.dead_jobs from anon, authenticated;
grant select, insert, update, delete on public.jobs, public.dead_jobs to service_role;
