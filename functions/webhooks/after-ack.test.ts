/** After-ack WhatsApp logging against a real database: batched, bounded, nothing doubled. */
import { describe, expect, it } from 'vitest';
import { useMigratedDatabase } from '../../tests/support/migrated.ts';
import type { Queryable } from '../_shared/db/types.ts';
import type { EventOutcome } from '../_shared/webhooks/ingest.ts';
import { type AcceptedDelivery, batchedWhatsAppLog } from './after-ack.ts';

const database = useMigratedDatabase();

/** Stores `count` inbound WhatsApp messages; returns their deliveries as intake saw them. */
async function storedMessages(prefix: string, count: number, db: Queryable) {
  const rows = await database.db.query<{ id: string; event_key: string }>(
    `insert into inbound_events (provider, event_key, event_type, payload)
     select 'whatsapp', $1 || n, 'message',
            jsonb_build_object('message', jsonb_build_object('from', '1555', 'type', 'text',
              'text', jsonb_build_object('body', 'hi ' || n)),
              'metadata', jsonb_build_object('phone_number_id', 'PNID'))
       from generate_series(1, $2::int) n
     returning id::text, event_key`,
    [prefix, count],
  );
  return rows.map((row): AcceptedDelivery => ({
    provider: 'whatsapp',
    events: [{
      key: row.event_key,
      type: 'message',
      kind: 'whatsapp.message',
      sender: '1555',
      payload: {},
    }],
    outcomes: [
      { outcome: 'accepted', eventId: row.id, jobId: null, retryAfterMs: 0 } as EventOutcome,
    ],
    db,
  }));
}

/** `db`, counting the inserts into whatsapp_logs it is asked to run. */
function counting(db: Queryable) {
  const seen = { inserts: 0 };
  const wrapped: Queryable = {
    query: ((text: string, values?: readonly unknown[]) => {
      if (text.includes('whatsapp_logs')) seen.inserts += 1;
      return db.query(text, values);
    }) as Queryable['query'],
    exec: (text: string) => db.exec(text),
  };
  return { db: wrapped, seen };
}

describe('batchedWhatsAppLog', () => {
  it('logs every message of many deliveries with a few inserts, one at a time', async () => {
    const { db, seen } = counting(database.db);
    const log = batchedWhatsAppLog();
    const deliveries = await storedMessages('wamid.batch.', 50, db);
    await Promise.all(deliveries.map((delivery) => log(delivery)));
    const [row] = await database.db.query<{ n: number }>(
      `select count(*)::int as n from whatsapp_logs where wa_message_id like 'wamid.batch.%'`,
    );
    expect(row!.n).toBe(50);
    // The first delivery's insert goes alone; the 49 that waited for it share the next.
    expect(seen.inserts).toBe(2);
  });

  it('does not log past its bound while the database is behind, and says how many', async () => {
    const { db } = counting(database.db);
    const dropped: number[] = [];
    const log = batchedWhatsAppLog({ maxPending: 2, onDropped: (count) => dropped.push(count) });
    const deliveries = await storedMessages('wamid.bound.', 4, db);
    // The first is being written; two wait (the bound); the fourth is not logged.
    await Promise.all(deliveries.map((delivery) => log(delivery)));
    expect(dropped).toEqual([1]);
    const logged = await database.db.query<{ wa_message_id: string }>(
      `select wa_message_id from whatsapp_logs where wa_message_id like 'wamid.bound.%'
        order by wa_message_id`,
    );
    expect(logged.map((row) => row.wa_message_id)).toEqual([
      'wamid.bound.1',
      'wamid.bound.2',
      'wamid.bound.3',
    ]);
  });
});
