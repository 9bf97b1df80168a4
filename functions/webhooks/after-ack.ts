import type { Queryable } from '../_shared/db/types.ts';
import type { IntakeEvent } from '../_shared/webhooks/events/types.ts';
import type { EventOutcome } from '../_shared/webhooks/ingest.ts';

export interface AcceptedDelivery {
  readonly provider: string;
  readonly events: readonly IntakeEvent[];
  readonly outcomes: readonly EventOutcome[];
  readonly db: Queryable;
}

/** Work that runs after the 200 has been sent; its failure never affects the ack. */
export type AfterAck = (delivery: AcceptedDelivery) => Promise<void>;

/**
 * Copies newly stored inbound WhatsApp messages into `whatsapp_logs` (one insert, skipping
 * any already logged), for the reference app and support staff.
 */
export const recordWhatsAppMessages: AfterAck = async ({ provider, events, outcomes, db }) => {
  if (provider !== 'whatsapp') return;
  const ids = events.flatMap((event, index) =>
    event.kind === 'whatsapp.message' && outcomes[index]?.eventId ? [outcomes[index].eventId] : []
  );
  if (ids.length === 0) return;
  await db.query(
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
      where e.id = any($1::bigint[])
     on conflict (wa_message_id) do nothing`,
    [ids],
  );
};

/**
 * Kicks the worker when the delivery enqueued jobs: the fast path from ack to processing
 * (cron only sweeps up what a kick missed).
 */
export function kickWorker(kick: () => Promise<void>): AfterAck {
  return async ({ outcomes }) => {
    if (outcomes.some((outcome) => outcome.jobId !== null)) await kick();
  };
}

/**
 * Runs every step after the ack, each whether or not another failed; a failure is
 * reported once all have settled.
 */
export function afterAckSteps(...steps: AfterAck[]): AfterAck {
  return async (delivery) => {
    const results = await Promise.allSettled(steps.map((step) => step(delivery)));
    const failures = results.flatMap((result) =>
      result.status === 'rejected' ? [result.reason] : []
    );
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, 'after-ack steps failed');
  };
}
