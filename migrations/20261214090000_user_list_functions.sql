-- The user API's list pages as functions that run as the caller, one statement each.
--
-- A list page used to be sent as two statements in one flight: the caller's role and claims
-- (set_config), then the select, which row-level security filtered. Sent unnamed (as
-- Supabase's transaction pooler needs), the select was parsed and planned at every read,
-- policies included (about 70 us of planning against 50 for the same select without them),
-- and the pair went through the driver's pipelining of several statements, which cost the
-- server process more than the read itself. As a function, the page is one statement and
-- its select keeps its plan on the connection.
--
-- Each function takes the caller's claims (the token's, as JSON) and subject first, becomes
-- that caller for its select (role `authenticated`, `request.jwt.claims`,
-- `request.jwt.claim.sub`, as the API sets them for its other statements), so the same
-- policies decide which rows exist, and then puts the role and the claims back as it found
-- them: inside a service-role transaction the statements after it still run as before.
-- The plan kept is the authenticated role's (Postgres plans again should a call come as
-- another role); the caller is read from the settings when the select runs, so one plan
-- serves every user.
--
-- Whoever may call these may read as anyone: only service_role can. The rest of the page
-- is as before: rows after the cursor ($after_us microseconds and $after_id, null for the
-- first page), newest first, at most p_limit, each with its cursor column.

create function gatehouse.vehicles_page(
  p_claims text, p_sub text, p_after_us int8, p_after_id uuid, p_limit int
)
returns table (
  id uuid, owner_user_id uuid, plate text, make text, model text, color text,
  seats smallint, status text, version int, created_at timestamptz, updated_at timestamptz,
  created_us text
)
language plpgsql volatile set search_path = '' as $$
#variable_conflict use_column
declare
  was_role constant text := pg_catalog.current_setting('role');
  was_claims constant text := pg_catalog.current_setting('request.jwt.claims', true);
  was_sub constant text := pg_catalog.current_setting('request.jwt.claim.sub', true);
begin
  perform pg_catalog.set_config('role', 'authenticated', true),
          pg_catalog.set_config('request.jwt.claims', p_claims, true),
          pg_catalog.set_config('request.jwt.claim.sub', p_sub, true);
  return query
    select v.id, v.owner_user_id, v.plate, v.make, v.model, v.color, v.seats, v.status,
           v.version, v.created_at, v.updated_at,
           (extract(epoch from v.created_at) * 1000000)::int8::text
      from public.vehicles v
     where p_after_us is null
        or (v.created_at, v.id)
           < (timestamptz 'epoch' + p_after_us * interval '1 microsecond', p_after_id)
     order by v.created_at desc, v.id desc
     limit p_limit;
  perform pg_catalog.set_config('role', was_role, true),
          pg_catalog.set_config('request.jwt.claims', coalesce(was_claims, ''), true),
          pg_catalog.set_config('request.jwt.claim.sub', coalesce(was_sub, ''), true);
end;
$$;

create function gatehouse.rides_page(
  p_claims text, p_sub text, p_after_us int8, p_after_id uuid, p_limit int
)
returns table (
  id uuid, passenger_user_id uuid, driver_user_id uuid, vehicle_id uuid, pickup text,
  dropoff text, status text, fare_cents float8, currency text, version int,
  created_at timestamptz, updated_at timestamptz, created_us text
)
language plpgsql volatile set search_path = '' as $$
#variable_conflict use_column
declare
  was_role constant text := pg_catalog.current_setting('role');
  was_claims constant text := pg_catalog.current_setting('request.jwt.claims', true);
  was_sub constant text := pg_catalog.current_setting('request.jwt.claim.sub', true);
begin
  perform pg_catalog.set_config('role', 'authenticated', true),
          pg_catalog.set_config('request.jwt.claims', p_claims, true),
          pg_catalog.set_config('request.jwt.claim.sub', p_sub, true);
  return query
    select r.id, r.passenger_user_id, r.driver_user_id, r.vehicle_id, r.pickup, r.dropoff,
           r.status, r.fare_cents::float8, r.currency, r.version, r.created_at, r.updated_at,
           (extract(epoch from r.created_at) * 1000000)::int8::text
      from public.rides r
     where p_after_us is null
        or (r.created_at, r.id)
           < (timestamptz 'epoch' + p_after_us * interval '1 microsecond', p_after_id)
     order by r.created_at desc, r.id desc
     limit p_limit;
  perform pg_catalog.set_config('role', was_role, true),
          pg_catalog.set_config('request.jwt.claims', coalesce(was_claims, ''), true),
          pg_catalog.set_config('request.jwt.claim.sub', coalesce(was_sub, ''), true);
end;
$$;

create function gatehouse.qr_codes_page(
  p_claims text, p_sub text, p_after_us int8, p_after_id uuid, p_limit int
)
returns table (
  id uuid, user_id uuid, kind text, payload text, amount_cents float8, currency text,
  created_at timestamptz, created_us text
)
language plpgsql volatile set search_path = '' as $$
#variable_conflict use_column
declare
  was_role constant text := pg_catalog.current_setting('role');
  was_claims constant text := pg_catalog.current_setting('request.jwt.claims', true);
  was_sub constant text := pg_catalog.current_setting('request.jwt.claim.sub', true);
begin
  perform pg_catalog.set_config('role', 'authenticated', true),
          pg_catalog.set_config('request.jwt.claims', p_claims, true),
          pg_catalog.set_config('request.jwt.claim.sub', p_sub, true);
  return query
    select q.id, q.user_id, q.kind, q.payload, q.amount_cents::float8, q.currency,
           q.created_at, (extract(epoch from q.created_at) * 1000000)::int8::text
      from public.qr_generations q
     where p_after_us is null
        or (q.created_at, q.id)
           < (timestamptz 'epoch' + p_after_us * interval '1 microsecond', p_after_id)
     order by q.created_at desc, q.id desc
     limit p_limit;
  perform pg_catalog.set_config('role', was_role, true),
          pg_catalog.set_config('request.jwt.claims', coalesce(was_claims, ''), true),
          pg_catalog.set_config('request.jwt.claim.sub', coalesce(was_sub, ''), true);
end;
$$;

revoke execute on function gatehouse.vehicles_page(text, text, int8, uuid, int),
                           gatehouse.rides_page(text, text, int8, uuid, int),
                           gatehouse.qr_codes_page(text, text, int8, uuid, int)
  from public, anon, authenticated;
grant execute on function gatehouse.vehicles_page(text, text, int8, uuid, int),
                          gatehouse.rides_page(text, text, int8, uuid, int),
                          gatehouse.qr_codes_page(text, text, int8, uuid, int)
  to service_role;
