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

/** Inbound event ids of the delivery's newly stored WhatsApp messages. */
function storedMessageIds({ provider, events, outcomes }: AcceptedDelivery): string[] {
  if (provider !== 'whatsapp') return [];
  return events.flatMap((event, index) =>
    event.kind === 'whatsapp.message' && outcomes[index]?.eventId ? [outcomes[index].eventId] : []
  );
}

/** Most message ids waiting to be logged; past it new ones are not logged (see below). */
export const WHATSAPP_LOG_MAX_PENDING = 10_000;
/** Most ids one insert carries. */
const WHATSAPP_LOG_BATCH = 1_000;

/**
 * Copies newly stored inbound WhatsApp messages into `whatsapp_logs` (skipping any already
 * logged), for the reference app and support staff, with bounded memory and database work
 * under load: ids wait in one list and a single insert at a time writes all that waited
 * (so 2,000 acks a second cost a few inserts, not 2,000 concurrent ones queued for
 * connections). Each
 * delivery's promise settles when its ids are written. If the database falls so far behind
 * that `maxPending` ids wait, further ones are not logged and `onDropped` is told how many:
 * the messages themselves are stored in `inbound_events`, from which the log can be
 * rebuilt.
 */
export function batchedWhatsAppLog(
  options: { maxPending?: number; onDropped?: (count: number) => void } = {},
): AfterAck {
  const maxPending = options.maxPending ?? WHATSAPP_LOG_MAX_PENDING;
  const pending: {
    ids: string[];
    db: Queryable;
    done: () => void;
    failed: (error: unknown) => void;
  }[] = [];
  let pendingIds = 0;
  let writing = false;

  const drain = async () => {
    writing = true;
    try {
      while (pending.length > 0) {
        const batch: typeof pending = [];
        let count = 0;
        while (
          pending.length > 0 &&
          (count === 0 || count + pending[0]!.ids.length <= WHATSAPP_LOG_BATCH)
        ) {
          const next = pending.shift()!;
          count += next.ids.length;
          batch.push(next);
        }
        pendingIds -= count;
        try {
          await insertWhatsAppLogs(batch[0]!.db, batch.flatMap((entry) => entry.ids));
          for (const entry of batch) entry.done();
        } catch (error) {
          for (const entry of batch) entry.failed(error);
        }
      }
    } finally {
      writing = false;
    }
  };

  return (delivery) => {
    const ids = storedMessageIds(delivery);
    if (ids.length === 0) return Promise.resolve();
    if (pendingIds + ids.length > maxPending) {
      options.onDropped?.(ids.length);
      return Promise.resolve();
    }
    return new Promise<void>((done, failed) => {
      pending.push({ ids, db: delivery.db, done, failed });
      pendingIds += ids.length;
      if (!writing) void drain();
    });
  };
}

function insertWhatsAppLogs(db: Queryable, ids: readonly string[]): Promise<unknown> {
  return db.query(
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
}

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
