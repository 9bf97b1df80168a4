-- A delivery attempt is recorded by a statement of its own (webhook_message_finish on the
-- pool, committed at once) instead of in the transaction that completes its job, so the
-- endpoint's row is locked for that statement only. A job run again after its completion
-- was lost (a crash, a lost lease) then finds its message already settled or scheduled:
-- webhook_message_begin answers `scheduled` for a message whose next attempt is due later,
-- which that attempt's own job will make, instead of making it early.
alter function public.webhook_message_begin(bigint, int, bigint)
  rename to webhook_message_begin_due;
alter function public.webhook_message_begin_due(bigint, int, bigint) set schema gatehouse;

create function public.webhook_message_begin(p_message bigint, p_lease_ms int, p_job bigint)
returns table (outcome text, retry_in_ms int, attempt int, endpoint_id uuid, url text,
               secrets text[], message_id text, event_type text, payload jsonb,
               emitted_at timestamptz)
language plpgsql volatile set search_path = '' as $$
begin
  if exists (select 1 from public.outbound_messages o
              where o.id = p_message and o.status = 'pending' and o.next_attempt_at > now()) then
    return query select 'scheduled'::text, 0, 0, null::uuid, null::text, null::text[],
      null::text, null::text, null::jsonb, null::timestamptz;
    return;
  end if;
  return query select * from gatehouse.webhook_message_begin_due(p_message, p_lease_ms, p_job);
end;
$$;

revoke all on function public.webhook_message_begin(bigint, int, bigint)
  from public, anon, authenticated;
grant execute on function public.webhook_message_begin(bigint, int, bigint) to service_role;
revoke all on function gatehouse.webhook_message_begin_due(bigint, int, bigint)
  from public, anon, authenticated;

-- The next message with a finished one's ordering key goes next. The caller holds the
-- endpoint's row; an attempt starting at that next message locks the message first and
-- then waits for the endpoint's row, so waiting here for the message would deadlock. A
-- message locked by such a start is skipped: once the caller commits, that start finds
-- the key free and goes itself.
create or replace function gatehouse.webhook_promote_next(p_endpoint uuid, p_key text)
returns void language plpgsql volatile set search_path = '' as $$
declare next_id bigint;
begin
  if p_key is null then return; end if;
  select m.id into next_id from public.outbound_messages m
   where m.endpoint_id = p_endpoint and m.ordering_key = p_key
     and m.status not in ('succeeded', 'failed')
   order by m.id limit 1;
  if next_id is null then return; end if;
  perform 1 from public.outbound_messages m where m.id = next_id
     for no key update skip locked;
  if not found then return; end if;
  update public.outbound_messages m set status = 'pending', updated_at = now()
   where m.id = next_id and m.status = 'waiting';
  if found then perform gatehouse.webhook_enqueue(next_id, now()); end if;
end;
$$;
