-- The reference app's user data: profiles, vehicles, rides, QR codes and vehicle OCR jobs.
-- Row-level security is the guard: a signed-in user (role authenticated, auth.uid() from
-- the token's sub) sees and changes only their own rows, a driver also the rides assigned
-- to them; anon gets nothing; the service role (the app's jobs) everything. Column grants
-- narrow what a user may write, so a passenger cannot assign a driver or set a fare, and
-- a trigger holds a ride to its course (see rides_user_change).
-- Policies call auth.uid() as (select auth.uid()), evaluated once per statement.
--
-- Rows users edit carry `version`, bumped by every update, for optimistic locking: the API
-- updates `where id = $1 and version = $2` and a stale version changes nothing (412/409).

create function public.app_rows_touch() returns trigger
language plpgsql set search_path = '' as $$
begin
  new.version := old.version + 1;
  new.updated_at := now();
  return new;
end;
$$;

-- profiles: one per user, keyed by the auth user's id.
create table public.profiles (
  id uuid primary key default auth.uid(),
  display_name text check (char_length(display_name) between 1 and 100),
  wa_phone text check (wa_phone ~ '^\+[1-9][0-9]{6,14}$'),
  locale text check (locale ~ '^[a-z]{2,3}(-[A-Z]{2})?$'),
  version integer not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index profiles_wa_phone on public.profiles (wa_phone);

-- vehicles: registered by their owner (a driver).
create table public.vehicles (
  id uuid primary key default gen_random_uuid(),
  owner_user_id uuid not null default auth.uid(),
  plate text not null check (plate ~ '^[A-Z0-9][A-Z0-9 -]{0,14}[A-Z0-9]$'),
  make text check (char_length(make) <= 60),
  model text check (char_length(model) <= 60),
  color text check (char_length(color) <= 30),
  seats smallint check (seats between 1 and 60),
  status text not null default 'active' check (status in ('active', 'inactive')),
  version integer not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (owner_user_id, plate)
);

-- rides: requested by a passenger; the app assigns a driver and vehicle.
create table public.rides (
  id uuid primary key default gen_random_uuid(),
  passenger_user_id uuid not null default auth.uid(),
  driver_user_id uuid,
  vehicle_id uuid references public.vehicles (id) on delete set null,
  pickup text not null check (char_length(pickup) between 1 and 200),
  dropoff text not null check (char_length(dropoff) between 1 and 200),
  status text not null default 'requested'
    check (status in ('requested', 'accepted', 'in_progress', 'completed', 'cancelled')),
  fare_cents bigint check (fare_cents >= 0),
  currency text check (currency ~ '^[A-Z]{3}$'),
  version integer not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index rides_passenger_user_id on public.rides (passenger_user_id, created_at desc);
create index rides_driver_user_id on public.rides (driver_user_id, created_at desc);
create index rides_vehicle_id on public.rides (vehicle_id);

-- qr_generations: payment codes a user asked for (a USSD string to dial), kept as issued.
create table public.qr_generations (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid(),
  kind text not null default 'ussd_payment' check (kind in ('ussd_payment')),
  payload text not null check (char_length(payload) between 1 and 512),
  amount_cents bigint check (amount_cents > 0),
  currency text check (currency ~ '^[A-Z]{3}$'),
  created_at timestamptz not null default now()
);
create index qr_generations_user_id on public.qr_generations (user_id, created_at desc);

-- vehicle_ocr_jobs: a photo of a vehicle's papers to read; the app's job fills the result.
create table public.vehicle_ocr_jobs (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid(),
  vehicle_id uuid references public.vehicles (id) on delete cascade,
  image_path text not null check (char_length(image_path) between 1 and 1024),
  status text not null default 'pending'
    check (status in ('pending', 'processing', 'done', 'failed')),
  result jsonb,
  error text,
  version integer not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index vehicle_ocr_jobs_status on public.vehicle_ocr_jobs (status, created_at);
create index vehicle_ocr_jobs_user_id on public.vehicle_ocr_jobs (user_id, created_at desc);
create index vehicle_ocr_jobs_vehicle_id on public.vehicle_ocr_jobs (vehicle_id);

create trigger profiles_touch before update on public.profiles
  for each row execute function public.app_rows_touch();
create trigger vehicles_touch before update on public.vehicles
  for each row execute function public.app_rows_touch();
create trigger rides_touch before update on public.rides
  for each row execute function public.app_rows_touch();
create trigger vehicle_ocr_jobs_touch before update on public.vehicle_ocr_jobs
  for each row execute function public.app_rows_touch();

-- What a user may do to a ride (the app, as the service role, may do anything): its
-- passenger changes the route while it is still requested and cancels it until it starts;
-- its driver moves it along accepted -> in_progress -> completed, or cancels it before it
-- starts. Anything else is refused with SQLSTATE 55000 (the API answers 409).
create function public.rides_user_change() returns trigger
language plpgsql set search_path = '' as $$
declare
  caller uuid := auth.uid();
begin
  if current_user <> 'authenticated' then
    return new;
  end if;
  if (new.pickup, new.dropoff) is distinct from (old.pickup, old.dropoff)
     and not (caller = old.passenger_user_id and old.status = 'requested') then
    raise exception 'only its passenger changes a ride''s route, and only while it is requested'
      using errcode = '55000';
  end if;
  if new.status is distinct from old.status and not (
       (caller = old.passenger_user_id and new.status = 'cancelled'
        and old.status in ('requested', 'accepted'))
    or (caller = old.driver_user_id and (old.status, new.status) in (
         ('accepted', 'in_progress'), ('in_progress', 'completed'), ('accepted', 'cancelled')))
  ) then
    raise exception 'you cannot take a ride from % to %', old.status, new.status
      using errcode = '55000';
  end if;
  return new;
end;
$$;
create trigger rides_user_change before update on public.rides
  for each row execute function public.rides_user_change();

alter table public.profiles enable row level security;
alter table public.vehicles enable row level security;
alter table public.rides enable row level security;
alter table public.qr_generations enable row level security;
alter table public.vehicle_ocr_jobs enable row level security;

create policy "users read their profile" on public.profiles
  for select to authenticated using (id = (select auth.uid()));
create policy "users create their profile" on public.profiles
  for insert to authenticated with check (id = (select auth.uid()));
create policy "users edit their profile" on public.profiles
  for update to authenticated
  using (id = (select auth.uid())) with check (id = (select auth.uid()));

create policy "owners read their vehicles" on public.vehicles
  for select to authenticated using (owner_user_id = (select auth.uid()));
create policy "owners add vehicles" on public.vehicles
  for insert to authenticated with check (owner_user_id = (select auth.uid()));
create policy "owners edit their vehicles" on public.vehicles
  for update to authenticated
  using (owner_user_id = (select auth.uid())) with check (owner_user_id = (select auth.uid()));
create policy "owners remove their vehicles" on public.vehicles
  for delete to authenticated using (owner_user_id = (select auth.uid()));

create policy "passengers and drivers read their rides" on public.rides
  for select to authenticated
  using (passenger_user_id = (select auth.uid()) or driver_user_id = (select auth.uid()));
create policy "passengers request rides" on public.rides
  for insert to authenticated
  with check (passenger_user_id = (select auth.uid()) and driver_user_id is null);
create policy "passengers and drivers update their rides" on public.rides
  for update to authenticated
  using (passenger_user_id = (select auth.uid()) or driver_user_id = (select auth.uid()))
  with check (passenger_user_id = (select auth.uid()) or driver_user_id = (select auth.uid()));

create policy "users read their QR codes" on public.qr_generations
  for select to authenticated using (user_id = (select auth.uid()));
create policy "users issue QR codes" on public.qr_generations
  for insert to authenticated with check (user_id = (select auth.uid()));
create policy "users remove their QR codes" on public.qr_generations
  for delete to authenticated using (user_id = (select auth.uid()));

create policy "users read their OCR jobs" on public.vehicle_ocr_jobs
  for select to authenticated using (user_id = (select auth.uid()));
create policy "users submit OCR jobs for their vehicles" on public.vehicle_ocr_jobs
  for insert to authenticated
  with check (
    user_id = (select auth.uid()) and status = 'pending'
    and (vehicle_id is null or exists (
      select from public.vehicles v
       where v.id = vehicle_id and v.owner_user_id = (select auth.uid())))
  );

create policy "service role manages profiles" on public.profiles
  for all to service_role using (true) with check (true);
create policy "service role manages vehicles" on public.vehicles
  for all to service_role using (true) with check (true);
create policy "service role manages rides" on public.rides
  for all to service_role using (true) with check (true);
create policy "service role manages QR codes" on public.qr_generations
  for all to service_role using (true) with check (true);
create policy "service role manages OCR jobs" on public.vehicle_ocr_jobs
  for all to service_role using (true) with check (true);

-- Supabase's default privileges grant anon and authenticated everything on new tables:
-- take it back, then grant users only the columns they may write.
revoke all on public.profiles, public.vehicles, public.rides, public.qr_generations,
  public.vehicle_ocr_jobs from anon, authenticated;
grant select, insert, update, delete on public.profiles, public.vehicles, public.rides,
  public.qr_generations, public.vehicle_ocr_jobs to service_role;

grant select on public.profiles to authenticated;
grant insert (id, display_name, wa_phone, locale) on public.profiles to authenticated;
grant update (display_name, wa_phone, locale) on public.profiles to authenticated;

grant select, delete on public.vehicles to authenticated;
grant insert (owner_user_id, plate, make, model, color, seats, status)
  on public.vehicles to authenticated;
grant update (plate, make, model, color, seats, status) on public.vehicles to authenticated;

grant select on public.rides to authenticated;
grant insert (passenger_user_id, pickup, dropoff) on public.rides to authenticated;
grant update (pickup, dropoff, status) on public.rides to authenticated;

grant select, delete on public.qr_generations to authenticated;
grant insert (user_id, kind, payload, amount_cents, currency)
  on public.qr_generations to authenticated;

grant select on public.vehicle_ocr_jobs to authenticated;
grant insert (user_id, vehicle_id, image_path) on public.vehicle_ocr_jobs to authenticated;

revoke execute on function public.app_rows_touch() from public, anon, authenticated;
revoke execute on function public.rides_user_change() from public, anon, authenticated;
