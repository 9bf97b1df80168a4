-- Helpers on hot paths rewritten from SQL to PL/pgSQL, same answers. A SQL function with a
-- `set search_path` clause cannot be inlined, and Postgres (before 18) plans its body again
-- at every call: about 55 µs of a job claim's 120 went to `processing_held_queues()`, which
-- every claim and every completion that claims the next job calls, and 15-40 µs a call to
-- the status ranks (three in each WhatsApp log upsert), the endpoint pattern match (once
-- per endpoint and event in the outbound fan-out) and the delivery enqueue. PL/pgSQL keeps
-- its plans for the session. Grants are unchanged by `create or replace`.

create or replace function public.processing_held_queues() returns text[]
language plpgsql stable set search_path = '' as $$
begin
  return (
    select coalesce(array_agg(substr(f.key, length('processing.') + 1)), '{}')
      from public.feature_flags f
     where f.key like 'processing.%' and not f.enabled
  );
end;
$$;

create or replace function gatehouse.whatsapp_status_rank(status text) returns integer
language plpgsql immutable set search_path = '' as $$
begin
  return case status
    when 'accepted' then 0 when 'sent' then 1 when 'delivered' then 2 when 'read' then 3
    when 'failed' then 4 else -1 end;
end;
$$;

create or replace function gatehouse.payment_status_rank(status text) returns integer
language plpgsql immutable set search_path = '' as $$
begin
  return case status when 'pending' then 0 when 'failed' then 1 when 'succeeded' then 2
    when 'refunded' then 3 end;
end;
$$;

create or replace function gatehouse.webhook_type_matches(patterns text[], event_type text)
returns boolean
language plpgsql immutable set search_path = '' as $$
begin
  return exists (
    select 1 from pg_catalog.unnest(patterns) as p
     where p = '*' or p = event_type
        or (p like '%.*' and pg_catalog.left(event_type, length(p) - 1) = pg_catalog.left(p, -1))
  );
end;
$$;

create or replace function gatehouse.webhook_enqueue(p_message bigint, p_run_at timestamptz)
returns void
language plpgsql volatile set search_path = '' as $$
begin
  insert into public.jobs (queue, kind, payload, run_at, max_attempts)
  values ('webhooks', 'webhook.deliver', pg_catalog.jsonb_build_object('message_id', p_message),
          p_run_at, 3);
end;
$$;
