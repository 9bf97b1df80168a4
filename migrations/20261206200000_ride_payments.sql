-- The reference app's payments: rides paid by card (Stripe) or PayPal, moved by their
-- webhooks through a state machine that only goes forward:
--   pending (0) → failed (1) → succeeded (2) → refunded (3)
-- (a failed payment can still succeed on a retry; a succeeded one can only be refunded).
-- An event that would move a payment back is recorded and changes nothing, so events
-- arriving out of order (a refund before its success) end in the same state as in order,
-- and a repeated event changes nothing at all.

alter table public.rides add column payment_status text not null default 'unpaid'
  check (payment_status in ('unpaid', 'pending', 'failed', 'paid', 'refunded'));

create table public.ride_payments (
  id uuid primary key default gen_random_uuid(),
  provider text not null check (provider in ('stripe', 'paypal')),
  -- Stripe: the PaymentIntent (pi_...), or the Checkout Session when it has none;
  -- PayPal: the capture.
  provider_payment_id text not null check (char_length(provider_payment_id) between 1 and 200),
  -- Unknown until an event names it (a refund can come before the payment it refunds).
  ride_id uuid references public.rides (id) on delete set null,
  -- The ride's passenger, whose payment it is (for row-level security).
  user_id uuid,
  status text not null check (status in ('pending', 'failed', 'succeeded', 'refunded')),
  amount_cents bigint check (amount_cents >= 0),
  amount_refunded_cents bigint not null default 0 check (amount_refunded_cents >= 0),
  currency text check (currency ~ '^[A-Z]{3}$'),
  failure_reason text check (char_length(failure_reason) <= 500),
  -- The status the passenger was last told about on WhatsApp.
  notified_status text,
  -- Every event applied, in order: [{"event": id, "type": type, "status": status}].
  events jsonb not null default '[]',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (provider, provider_payment_id)
);
create index ride_payments_ride_id on public.ride_payments (ride_id);
create index ride_payments_user_id on public.ride_payments (user_id, created_at desc);

-- How far along a payment status is.
create function gatehouse.payment_status_rank(status text) returns int
language sql immutable set search_path = '' as $$
  select case status when 'pending' then 0 when 'failed' then 1 when 'succeeded' then 2
    when 'refunded' then 3 end
$$;
revoke execute on function gatehouse.payment_status_rank(text) from public, anon, authenticated;
grant execute on function gatehouse.payment_status_rank(text) to service_role;

alter table public.ride_payments enable row level security;
-- Passengers read the payments of their rides; only the app's jobs write them.
create policy "passengers read their payments" on public.ride_payments
  for select to authenticated using (user_id = (select gatehouse.request_user_id()));
create policy "service role manages payments" on public.ride_payments
  for all to service_role using (true) with check (true);
revoke all on public.ride_payments from anon, authenticated;
grant select on public.ride_payments to authenticated;
grant select, insert, update, delete on public.ride_payments to service_role;
