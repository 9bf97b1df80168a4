-- Feature flags: operators switch behaviour from SQL, e.g.
--   update feature_flags set enabled = false where key = 'intake.stripe';
-- A key with no row counts as enabled, so a new switch needs no migration to exist.
-- Every instance re-reads the table at least once a second (functions/_shared/flags).

create table public.feature_flags (
  key text primary key check (key ~ '^[a-z0-9][a-z0-9_.:-]*$'),
  enabled boolean not null default true,
  description text,
  updated_at timestamptz not null default now(),
  updated_by text not null default current_user
);

comment on table public.feature_flags is
  'Operator switches. intake.<provider>: accept webhooks (off = 503, provider retries). '
  'processing.<provider>: run their jobs (off = events stored, jobs held).';

create function public.feature_flags_touch() returns trigger
language plpgsql set search_path = '' as $$
begin
  new.updated_at := now();
  new.updated_by := current_user;
  return new;
end;
$$;

create trigger feature_flags_touch before update on public.feature_flags
  for each row execute function public.feature_flags_touch();

alter table public.feature_flags enable row level security;

-- Signed-in users may read flags (the PWA adapts to them); only the service role writes.
create policy "authenticated users read flags" on public.feature_flags
  for select to authenticated using (true);
create policy "service role manages flags" on public.feature_flags
  for all to service_role using (true) with check (true);

revoke all on public.feature_flags from anon, authenticated;
grant select on public.feature_flags to authenticated;
grant select, insert, update, delete on public.feature_flags to service_role;

insert into public.feature_flags (key, enabled, description) values
  ('intake.whatsapp', true, 'Accept WhatsApp webhooks'),
  ('intake.stripe', true, 'Accept Stripe webhooks'),
  ('intake.paypal', true, 'Accept PayPal webhooks'),
  ('intake.standard', true, 'Accept Standard Webhooks deliveries'),
  ('intake.ussd', true, 'Answer USSD sessions'),
  ('processing.whatsapp', true, 'Run WhatsApp event jobs'),
  ('processing.stripe', true, 'Run Stripe event jobs'),
  ('processing.paypal', true, 'Run PayPal event jobs'),
  ('processing.standard', true, 'Run Standard Webhooks event jobs');
