-- Alerts: one row per incident of a rule, from the moment it fires to the moment it clears.
-- A job evaluates the rules every minute (functions/_shared/alerts); a rule that starts
-- firing inserts a row and enqueues its notification in the same transaction, and the
-- partial unique index below lets only one open row exist per rule, so any number of
-- instances evaluating at once notify once. A rule that stops firing sets resolved_at,
-- which again only one evaluation can do, and enqueues the resolve notification.

create table public.alerts (
  id bigint generated always as identity primary key,
  -- The rule's key, e.g. 'queue_backlog' or 'slo_fast_burn:availability'.
  rule text not null check (length(rule) between 1 and 200),
  severity text not null check (severity in ('P0', 'P1', 'P2', 'P3')),
  -- What the rule saw the last time it was evaluated while firing, in a sentence.
  summary text not null check (length(summary) <= 2000),
  -- The measured value the rule compares with its threshold, and the rule's details.
  value double precision,
  details jsonb not null default '{}',
  fired_at timestamptz not null default now(),
  -- The last evaluation that still found it firing.
  last_seen_at timestamptz not null default now(),
  resolved_at timestamptz,
  -- When the receiver of the severity acknowledged each message (null: not yet, or no
  -- receiver configured for the severity).
  fired_notified_at timestamptz,
  resolved_notified_at timestamptz,
  check (resolved_at is null or resolved_at >= fired_at)
);

-- At most one open incident per rule: the guard that makes firing happen once.
create unique index alerts_open_rule_idx on public.alerts (rule) where resolved_at is null;
create index alerts_fired_at_idx on public.alerts (fired_at desc);

alter table public.alerts enable row level security;
-- Only the service role (the platform and operators' tools) reads or writes alerts.
create policy "service role manages alerts" on public.alerts
  for all to service_role using (true) with check (true);
revoke all on public.alerts from anon, authenticated;
grant select, insert, update, delete on public.alerts to service_role;
