import { type Queryable, typed } from '../db/types.ts';
import type { InboundEvent } from '../jobs/inbound.ts';
import type { JobContext } from '../queue/types.ts';
import type { OutboundMessage, SentMessage } from './client.ts';

/** The text a log row keeps of an outbound message: what the user reads first. */
function loggedBody(message: OutboundMessage): string {
  return (message.type === 'text' ? message.text : message.body).slice(0, 4_096);
}

/**
 * Records a message Gatehouse sent in `whatsapp_logs` (status `accepted`), through the
 * caller's transaction (the job that sent it). If its status webhooks got there first, the
 * row they made is completed and keeps its further status.
 */
export async function logOutboundMessage(
  db: Queryable,
  sent: SentMessage,
  details: {
    readonly to: string;
    readonly phoneNumberId: string;
    readonly message: OutboundMessage;
    readonly inboundEventId?: number | null;
    readonly requestId?: string | null;
  },
): Promise<void> {
  await db.query(
    `insert into public.whatsapp_logs as l
       (direction, wa_message_id, phone_number_id, contact_phone, message_type, body,
        inbound_event_id, request_id, status, status_at)
     values ('outbound', $1, $2, $3, $4, $5, $6, $7, 'accepted', pg_catalog.now())
     on conflict (wa_message_id) do update set
       phone_number_id = coalesce(l.phone_number_id, excluded.phone_number_id),
       contact_phone = coalesce(l.contact_phone, excluded.contact_phone),
       message_type = excluded.message_type,
       body = excluded.body,
       inbound_event_id = excluded.inbound_event_id,
       request_id = excluded.request_id
     where l.direction = 'outbound'`,
    [
      typed(sent.messageId, 'text'),
      typed(details.phoneNumberId, 'text'),
      typed(sent.waId ?? details.to, 'text'),
      typed(details.message.type, 'text'),
      typed(loggedBody(details.message), 'text'),
      typed(details.inboundEventId ?? null, 'int8'),
      typed(details.requestId ?? null, 'text'),
    ],
  );
}

/**
 * The platform's step for a `whatsapp.status` event: moves the outbound message's state
 * forward (never back), creating its row if the status came before the send was recorded.
 * A `failed` status keeps Meta's first error code and title.
 */
export async function applyWhatsAppStatus(
  event: InboundEvent,
  ctx: Pick<JobContext, 'tx'>,
): Promise<void> {
  const payload = event.payload as {
    status?: {
      id?: string;
      status?: string;
      timestamp?: string;
      recipient_id?: string;
      errors?: { code?: number; title?: string; message?: string }[];
    };
    metadata?: { phone_number_id?: string } | null;
  };
  const status = payload.status;
  if (!status?.id || !status.status) return;
  const seconds = Number(status.timestamp);
  const at = Number.isFinite(seconds) && seconds > 0 ? new Date(seconds * 1000) : event.receivedAt;
  const error = status.errors?.[0];
  await ctx.tx.query(
    `insert into public.whatsapp_logs as l
       (direction, wa_message_id, phone_number_id, contact_phone, status, status_at,
        error_code, error_title, request_id)
     select 'outbound', $1, $2, $3, $4, $5::timestamptz, $6, $7, $8
      where gatehouse.whatsapp_status_rank($4) >= 0
     on conflict (wa_message_id) do update set
       status = excluded.status,
       status_at = excluded.status_at,
       error_code = coalesce(l.error_code, excluded.error_code),
       error_title = coalesce(l.error_title, excluded.error_title)
     where l.direction = 'outbound'
       and gatehouse.whatsapp_status_rank(excluded.status) >
           coalesce(gatehouse.whatsapp_status_rank(l.status), -1)`,
    [
      typed(status.id, 'text'),
      typed(payload.metadata?.phone_number_id ?? null, 'text'),
      typed(status.recipient_id ?? null, 'text'),
      typed(status.status, 'text'),
      typed(at.toISOString(), 'timestamptz'),
      typed(typeof error?.code === 'number' ? error.code : null, 'int4'),
      typed((error?.title ?? error?.message ?? null)?.slice(0, 500) ?? null, 'text'),
      typed(event.requestId, 'text'),
    ],
  );
}
