-- Row-level security, tried from inside the database with pgTAP (`supabase test db` runs
-- this folder; CI runs it with pg_prove against a freshly migrated Postgres): every table
-- in public has RLS and a policy; anon reaches none of the app's tables; a signed-in user
-- sees, changes and deletes only their own rows and cannot create rows in another's name;
-- the service role reaches everything; the user API's read functions (which read as the
-- caller they are given) are the service role's alone. Everything happens in one
-- transaction, rolled back.
begin;
create extension if not exists pgtap;

select plan(42);

-- The catalogue.
select is(
  (select array_agg(relname order by relname) from pg_class
    where relnamespace = 'public'::regnamespace and relkind in ('r', 'p')
      and not relrowsecurity),
  null,
  'every table in public has row-level security'
);
select is(
  (select array_agg(c.relname order by c.relname) from pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
      and not exists (select from pg_policies p
                       where p.schemaname = 'public' and p.tablename = c.relname)),
  null,
  'every table in public has a policy'
);

-- Two users' rows, written as the migration owner.
insert into public.profiles (id, display_name) values
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'Ada'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'Bob');
insert into public.vehicles (id, owner_user_id, plate) values
  ('aaaaaaaa-1111-4000-8000-00000000000a', 'aaaaaaaa-0000-4000-8000-00000000000a', 'KAA 1A'),
  ('bbbbbbbb-1111-4000-8000-00000000000b', 'bbbbbbbb-0000-4000-8000-00000000000b', 'KBB 1B');
insert into public.rides (id, passenger_user_id, driver_user_id, pickup, dropoff) values
  ('aaaaaaaa-2222-4000-8000-00000000000a', 'aaaaaaaa-0000-4000-8000-00000000000a', null, 'A', 'B'),
  ('bbbbbbbb-2222-4000-8000-00000000000b', 'bbbbbbbb-0000-4000-8000-00000000000b',
   'cccccccc-0000-4000-8000-00000000000c', 'C', 'D');
insert into public.qr_generations (id, user_id, payload) values
  ('aaaaaaaa-3333-4000-8000-00000000000a', 'aaaaaaaa-0000-4000-8000-00000000000a', '*1#'),
  ('bbbbbbbb-3333-4000-8000-00000000000b', 'bbbbbbbb-0000-4000-8000-00000000000b', '*2#');
insert into public.vehicle_ocr_jobs (id, user_id, image_path) values
  ('aaaaaaaa-4444-4000-8000-00000000000a', 'aaaaaaaa-0000-4000-8000-00000000000a', 'a.jpg'),
  ('bbbbbbbb-4444-4000-8000-00000000000b', 'bbbbbbbb-0000-4000-8000-00000000000b', 'b.jpg');

-- anon: nothing at all.
set local role anon;
set local request.jwt.claims to '{"role": "anon"}';
select throws_ok('select * from public.profiles', '42501', null, 'anon cannot read profiles');
select throws_ok('select * from public.vehicles', '42501', null, 'anon cannot read vehicles');
select throws_ok('select * from public.rides', '42501', null, 'anon cannot read rides');
select throws_ok('select * from public.qr_generations', '42501', null, 'anon cannot read QR codes');
select throws_ok('select * from public.vehicle_ocr_jobs', '42501', null, 'anon cannot read OCR jobs');
select throws_ok('select * from public.feature_flags', '42501', null, 'anon cannot read flags');
select throws_ok('select * from public.inbound_events', '42501', null, 'anon cannot read events');
select throws_ok(
  $$insert into public.vehicles (owner_user_id, plate) values (gen_random_uuid(), 'KZZ 9Z')$$,
  '42501', null, 'anon cannot add vehicles'
);
reset role;

-- Ada, signed in.
set local role authenticated;
set local request.jwt.claims to '{"sub": "aaaaaaaa-0000-4000-8000-00000000000a", "role": "authenticated"}';
select results_eq('select id::text from public.profiles',
  $$values ('aaaaaaaa-0000-4000-8000-00000000000a')$$, 'Ada sees only her profile');
select results_eq('select plate from public.vehicles', $$values ('KAA 1A')$$,
  'Ada sees only her vehicles');
select results_eq('select pickup from public.rides', $$values ('A')$$, 'Ada sees only her rides');
select results_eq('select payload from public.qr_generations', $$values ('*1#')$$,
  'Ada sees only her QR codes');
select results_eq('select image_path from public.vehicle_ocr_jobs', $$values ('a.jpg')$$,
  'Ada sees only her OCR jobs');
select is_empty(
  $$update public.profiles set display_name = 'Mallory'
     where id = 'bbbbbbbb-0000-4000-8000-00000000000b' returning id$$,
  'Ada cannot change Bob''s profile'
);
select is_empty(
  $$update public.vehicles set plate = 'KXX 0X'
     where id = 'bbbbbbbb-1111-4000-8000-00000000000b' returning id$$,
  'Ada cannot change Bob''s vehicle'
);
select is_empty(
  $$update public.rides set status = 'cancelled'
     where id = 'bbbbbbbb-2222-4000-8000-00000000000b' returning id$$,
  'Ada cannot change Bob''s ride'
);
select is_empty(
  $$delete from public.vehicles where id = 'bbbbbbbb-1111-4000-8000-00000000000b' returning id$$,
  'Ada cannot delete Bob''s vehicle'
);
select is_empty(
  $$delete from public.qr_generations where id = 'bbbbbbbb-3333-4000-8000-00000000000b'
    returning id$$,
  'Ada cannot delete Bob''s QR code'
);
select throws_ok(
  $$insert into public.vehicles (owner_user_id, plate)
    values ('bbbbbbbb-0000-4000-8000-00000000000b', 'KYY 2Y')$$,
  '42501', null, 'Ada cannot add a vehicle in Bob''s name'
);
select throws_ok(
  $$insert into public.rides (passenger_user_id, pickup, dropoff)
    values ('bbbbbbbb-0000-4000-8000-00000000000b', 'E', 'F')$$,
  '42501', null, 'Ada cannot request a ride in Bob''s name'
);
select throws_ok(
  $$insert into public.vehicle_ocr_jobs (user_id, vehicle_id, image_path)
    values ('aaaaaaaa-0000-4000-8000-00000000000a', 'bbbbbbbb-1111-4000-8000-00000000000b', 'x.jpg')$$,
  '42501', null, 'Ada cannot submit an OCR job for Bob''s vehicle'
);
select throws_ok(
  $$update public.rides set driver_user_id = 'aaaaaaaa-0000-4000-8000-00000000000a'
     where id = 'aaaaaaaa-2222-4000-8000-00000000000a'$$,
  '42501', null, 'Ada cannot assign a driver to her own ride'
);
select throws_ok('select * from public.jobs', '42501', null, 'Ada cannot read the job queue');
select throws_ok('select * from public.idempotency_keys', '42501', null,
  'Ada cannot read the idempotency keys');
select isnt_empty('select key from public.feature_flags', 'Ada can read the feature flags');
reset role;

-- Carol drives Bob's ride: she sees it, and only it.
set local role authenticated;
set local request.jwt.claims to '{"sub": "cccccccc-0000-4000-8000-00000000000c", "role": "authenticated"}';
select results_eq('select pickup from public.rides', $$values ('C')$$,
  'a driver sees the rides assigned to her');
reset role;

-- Bob's rows, untouched by Ada's attempts.
select results_eq(
  $$select display_name from public.profiles where id = 'bbbbbbbb-0000-4000-8000-00000000000b'$$,
  $$values ('Bob')$$, 'Bob''s profile is as it was');
select results_eq(
  $$select plate, version from public.vehicles where owner_user_id = 'bbbbbbbb-0000-4000-8000-00000000000b'$$,
  $$values ('KBB 1B', 1)$$, 'Bob''s vehicle is as it was');
select results_eq(
  $$select count(*)::int from public.qr_generations where user_id = 'bbbbbbbb-0000-4000-8000-00000000000b'$$,
  $$values (1)$$, 'Bob''s QR code is still there');

-- The service role reaches everything.
set local role service_role;
select results_eq('select count(*)::int from public.vehicles', $$values (2)$$,
  'the service role sees every vehicle');
reset role;

-- The flags' version counter: read by the service role, bumped only by the flags' trigger.
set local role authenticated;
select throws_ok('select version from gatehouse.feature_flags_version', '42501', null,
  'a signed-in user cannot read the flags version');
select throws_ok('update gatehouse.feature_flags_version set version = 0', '42501', null,
  'a signed-in user cannot move the flags version');
reset role;
set local role service_role;
select throws_ok('update gatehouse.feature_flags_version set version = 0', '42501', null,
  'the service role cannot move the flags version by hand');
select lives_ok($$update public.feature_flags set rollout_percent = 50 where key = 'intake.ussd'$$,
  'the service role changes a flag, which bumps the version through the trigger');
reset role;

-- The user API's read functions read as the caller they are given, so only the service role
-- may call them: a signed-in user could otherwise read as anyone.
set local role authenticated;
set local request.jwt.claims to '{"sub": "aaaaaaaa-0000-4000-8000-00000000000a", "role": "authenticated"}';
select throws_ok(
  $$select * from gatehouse.vehicles_page('{}', 'bbbbbbbb-0000-4000-8000-00000000000b', null, null, 10)$$,
  '42501', null, 'a signed-in user cannot read vehicles as another user');
reset role;
set local role anon;
select throws_ok(
  $$select * from gatehouse.rides_page('{}', 'bbbbbbbb-0000-4000-8000-00000000000b', null, null, 10)$$,
  '42501', null, 'anon cannot read rides as a user');
reset role;
set local role service_role;
select results_eq(
  $$select plate from gatehouse.vehicles_page('{}', 'aaaaaaaa-0000-4000-8000-00000000000a', null, null, 10)$$,
  $$values ('KAA 1A')$$, 'the vehicles page of Ada holds her vehicles only');
select results_eq(
  $$select pickup from gatehouse.rides_page('{}', 'cccccccc-0000-4000-8000-00000000000c', null, null, 10)$$,
  $$values ('C')$$, 'the rides page of a driver holds the rides assigned to her');
select results_eq(
  $$select payload from gatehouse.qr_codes_page('{}', 'bbbbbbbb-0000-4000-8000-00000000000b', null, null, 10)$$,
  $$values ('*2#')$$, 'the QR codes page of Bob holds his codes only');
select is(current_user::text, 'service_role', 'after a page, the service role is itself again');
reset role;

select * from finish();
rollback;
