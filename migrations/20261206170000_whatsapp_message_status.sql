-- The delivery state of outbound WhatsApp messages, from Meta's status webhooks (sent,
-- delivered, read, failed). A state only moves forward: accepted < sent < delivered < read,
-- and failed ends it, so statuses arriving out of order (read before delivered, a status
-- before the send's own row is committed) never move a message back. Both writers (the
-- send, recording what was sent; the status job, recording what became of it) upsert on
-- wa_message_id and keep the further state.

alter table public.whatsapp_logs
  add column status text check (status in ('accepted', 'sent', 'delivered', 'read', 'failed')),
  add column status_at timestamptz,
  add column error_code int,
  add column error_title text check (length(error_title) <= 500);

comment on column public.whatsapp_logs.status is
  'Outbound only: accepted (Meta took it) < sent < delivered < read; failed ends it';

-- How far along a status is; unknown statuses rank below every known one.
create function gatehouse.whatsapp_status_rank(status text) returns int
language sql immutable set search_path = '' as $$
  select case status
    when 'accepted' then 0 when 'sent' then 1 when 'delivered' then 2 when 'read' then 3
    when 'failed' then 4 else -1 end
$$;

revoke execute on function gatehouse.whatsapp_status_rank(text) from public, anon, authenticated;
grant execute on function gatehouse.whatsapp_status_rank(text) to service_role;
