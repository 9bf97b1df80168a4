-- The reference app's flags, seeded so operators find them in feature_flags on every
-- deployment (`supabase db push` runs migrations only); `gatehouse migrate` also writes
-- the app's declared flags, and neither ever overwrites an operator's choice.
insert into public.feature_flags (key, enabled, description) values
  ('app.rides', true, 'WhatsApp bot: schedule a ride, my rides, cancel a ride'),
  ('app.vehicles', true, 'WhatsApp bot: register a vehicle'),
  ('app.payments', true, 'WhatsApp bot: pay / my payment codes'),
  ('app.ocr', true, 'WhatsApp bot: read the plate on a photo (OCR)')
on conflict (key) do nothing;

-- A manual adjustment of a ride's payment by an operator (a refund made outside the
-- providers, a payment confirmed by hand): any status, with a reason, in one statement that
-- also moves the ride's payment_status and writes the audit row (who: the operator as the
-- transaction names them, see gatehouse.audit_actor()). Service role only.
create function public.ride_payment_adjust(payment uuid, new_status text, reason text)
returns public.ride_payments
language plpgsql security definer set search_path = '' as $$
declare
  before_row public.ride_payments;
  after_row public.ride_payments;
begin
  if gatehouse.payment_status_rank(new_status) is null then
    raise exception 'ride_payment_adjust: status must be pending, failed, succeeded or refunded'
      using errcode = '22023';
  end if;
  if reason is null or pg_catalog.length(pg_catalog.btrim(reason)) = 0
     or pg_catalog.length(reason) > 500 then
    raise exception 'ride_payment_adjust: give a reason (1 to 500 characters)'
      using errcode = '22023';
  end if;
  select * into before_row from public.ride_payments where id = payment for update;
  if not found then
    raise exception 'ride_payment_adjust: no payment %', payment using errcode = 'P0002';
  end if;
  update public.ride_payments
     set status = new_status,
         events = events || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
           'adjusted_by', gatehouse.audit_actor(), 'status', new_status, 'reason', reason)),
         updated_at = pg_catalog.now()
   where id = payment
  returning * into after_row;
  if after_row.ride_id is not null then
    update public.rides set payment_status = case new_status
        when 'succeeded' then 'paid' else new_status end
     where id = after_row.ride_id;
  end if;
  insert into public.audit_logs (actor, action, entity_type, entity_id, before, after, context)
  values (
    gatehouse.audit_actor(), 'payment.adjust', 'ride_payment', payment::text,
    pg_catalog.jsonb_build_object('status', before_row.status),
    pg_catalog.jsonb_build_object('status', after_row.status),
    pg_catalog.jsonb_build_object('reason', reason)
  );
  return after_row;
end;
$$;
comment on function public.ride_payment_adjust(uuid, text, text) is
  'Sets a ride payment''s status by hand, with a reason; audit-logged as payment.adjust.';
revoke execute on function public.ride_payment_adjust(uuid, text, text)
  from public, anon, authenticated;
grant execute on function public.ride_payment_adjust(uuid, text, text) to service_role;
