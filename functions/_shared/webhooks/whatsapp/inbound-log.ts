import { typed } from '../../db/types.ts';
import type { JobContext } from '../../queue/types.ts';

/**
 * Copies a stored inbound WhatsApp message into `whatsapp_logs` (for the reference app and
 * support staff), in the message's job transaction: the row exists exactly when the job
 * that handled the message committed, and a retried job writes it once
 * (`wa_message_id` is unique).
 */
export async function logInboundWhatsAppMessage(
  event: { readonly id: number },
  ctx: Pick<JobContext, 'tx'>,
): Promise<void> {
  await ctx.tx.query(
    `insert into public.whatsapp_logs
       (direction, wa_message_id, phone_number_id, contact_phone, message_type, body,
        inbound_event_id, request_id)
     select 'inbound', e.event_key,
            e.payload #>> '{metadata,phone_number_id}',
            e.payload #>> '{message,from}',
            e.payload #>> '{message,type}',
            e.payload #>> '{message,text,body}',
            e.id, e.request_id
       from public.inbound_events e
      where e.id = $1
     on conflict (wa_message_id) do nothing`,
    [typed(event.id, 'int8')],
  );
}
