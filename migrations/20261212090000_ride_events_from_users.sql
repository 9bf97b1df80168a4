-- Outbound events for the rides users change themselves. The app emits `ride.requested`
-- and `ride.cancelled` for what it does (the WhatsApp bot, as the service role, in the same
-- transaction); a signed-in user requesting or moving a ride through the user API, or
-- straight through PostgREST on Supabase, went unheard by partners. A trigger now emits
-- them for the `authenticated` role, in the transaction of the change, whatever the path:
--   insert          -> ride.requested  {ride_id, passenger_user_id, pickup, dropoff, channel: 'app'}
--   status changed  -> ride.<status>   {ride_id, passenger_user_id, driver_user_id, from, by}
-- where `by` is `passenger` or `driver` (rides_user_change allows nothing else), each keyed
-- `ride:<id>` so a partner gets a ride's news in order. Changes by the service role emit
-- nothing here: the app says what it did itself.

create function public.rides_user_events() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  caller uuid;
begin
  -- Security definer, so current_user is this function's owner: the role the statement
  -- runs as is the `role` setting (`set local role authenticated`, as PostgREST sets it).
  if coalesce(pg_catalog.current_setting('role', true), '') <> 'authenticated' then
    return null;
  end if;
  if tg_op = 'INSERT' then
    perform public.emit_event('ride.requested', pg_catalog.jsonb_build_object(
      'ride_id', new.id,
      'passenger_user_id', new.passenger_user_id,
      'pickup', new.pickup,
      'dropoff', new.dropoff,
      'channel', 'app'), 'ride:' || new.id);
  elsif new.status is distinct from old.status then
    caller := auth.uid();
    perform public.emit_event('ride.' || new.status, pg_catalog.jsonb_build_object(
      'ride_id', new.id,
      'passenger_user_id', new.passenger_user_id,
      'driver_user_id', new.driver_user_id,
      'from', old.status,
      'by', case when caller = old.driver_user_id then 'driver' else 'passenger' end),
      'ride:' || new.id);
  end if;
  return null;
end;
$$;

create trigger rides_user_events after insert or update of status on public.rides
  for each row execute function public.rides_user_events();

revoke execute on function public.rides_user_events() from public, anon, authenticated;
