-- The reference app's WhatsApp bot: who a sender is, and where their conversation stands.
--
-- profiles.wa_verified_at: the profile's WhatsApp number is proven, because the bot made
-- the profile from a Meta-signed message sent from that number. A number a user types in
-- the app is not proven, so the bot never hands that user's account to whoever messages
-- from the number; users cannot set the proof themselves, and changing the number drops it.

alter table public.profiles add column wa_verified_at timestamptz;

-- One proven profile per number: the bot finds its user by it.
create unique index profiles_wa_phone_verified on public.profiles (wa_phone)
  where wa_verified_at is not null;

create function public.profiles_guard_wa_verified() returns trigger
language plpgsql set search_path = '' as $$
begin
  if current_user = 'authenticated' then
    if tg_op = 'INSERT' then
      new.wa_verified_at := null;
    elsif new.wa_verified_at is distinct from old.wa_verified_at then
      raise exception 'wa_verified_at is set by the WhatsApp bot only' using errcode = '42501';
    end if;
  end if;
  if tg_op = 'UPDATE' and new.wa_phone is distinct from old.wa_phone then
    new.wa_verified_at := null;
  end if;
  return new;
end;
$$;
create trigger profiles_guard_wa_verified before insert or update on public.profiles
  for each row execute function public.profiles_guard_wa_verified();

-- Where each WhatsApp user's conversation with the bot stands (one row per profile): the
-- flow and step they are in and what they have said so far in it.
create table public.whatsapp_conversations (
  -- The profile whose conversation it is.
  id uuid primary key references public.profiles (id) on delete cascade,
  flow text check (char_length(flow) <= 50),
  step text check (char_length(step) <= 50),
  data jsonb not null default '{}' check (pg_column_size(data) <= 8192),
  -- The last message handled: replies thread under it.
  last_message_id text check (char_length(last_message_id) <= 200),
  updated_at timestamptz not null default now()
);

alter table public.whatsapp_conversations enable row level security;
-- Users read their own conversation; only the bot (the service role) writes it.
create policy "users read their conversation" on public.whatsapp_conversations
  for select to authenticated using (id = (select gatehouse.request_user_id()));
create policy "service role manages conversations" on public.whatsapp_conversations
  for all to service_role using (true) with check (true);
revoke all on public.whatsapp_conversations from anon, authenticated;
grant select on public.whatsapp_conversations to authenticated;
grant select, insert, update, delete on public.whatsapp_conversations to service_role;
