/**
 * The last line of defence: a value the checks before SQL let through but Postgres still
 * refuses (SQLSTATE class 22 or 54) is answered 400, stores nothing, and fails only its own
 * delivery when it shared an `ingest_events` call with good ones.
 *
 * The checks leave no such value today, so a trigger stands in for one: it refuses event
 * keys starting `refuse-` with 54000 and a message naming an index, as Postgres does for an
 * index row that is too large.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import {
  createIngestor,
  type IngestCall,
  type Ingestor,
} from '../functions/_shared/webhooks/ingest.ts';
import { signStripe } from './support/webhooks/index.ts';
import { countedIntake } from './support/intake-counters.ts';
import { app as referenceApp } from '../functions/_app/index.ts';
import { createWebhooksApp } from '../functions/webhooks/index.ts';
import { INPUT_REFUSED_DETAIL } from '../functions/webhooks/store.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const STRIPE_SECRET = 'whsec_refusal';
const USSD_TOKEN = 'refusal-ussd-token-0123456789';
const INDEX_MESSAGE =
  'index row size 3016 exceeds btree version 4 maximum 2704 for index "inbound_events_provider_event_key"';

const database = useMigratedDatabase({
  setup: `
    create function refuse_marked_keys() returns trigger language plpgsql as $$
    begin
      if new.event_key like 'refuse-%' then
        raise exception '${INDEX_MESSAGE}' using errcode = '54000';
      end if;
      return new;
    end $$;
    create trigger refuse_marked_keys before insert on inbound_events
      for each row execute function refuse_marked_keys();
  `,
});

/**
 * Holds requests until `size` have arrived, then hands them to `inner` in one turn, so
 * they go out in one `ingest_events` call (the ingestor batches what arrives together).
 */
function together(inner: Ingestor, size: number): Ingestor {
  let waiting: (() => void)[] = [];
  return {
    ingest(request) {
      return new Promise((resolve, reject) => {
        waiting.push(() => void inner.ingest(request).then(resolve, reject));
        if (waiting.length < size) return;
        const release = waiting;
        waiting = [];
        for (const go of release) go();
      });
    },
  };
}

let calls: IngestCall[];
const captured = capturedLogger();
const { counters, counts } = countedIntake();
let app: ReturnType<typeof createWebhooksApp>;
let alone: ReturnType<typeof createWebhooksApp>;

beforeAll(() => {
  calls = [];
  const base = {
    config: parseConfig({ STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, USSD_PATH_TOKEN: USSD_TOKEN }),
    db: database.db,
    clock: systemClock,
    fetch,
    background: () => {},
    app: referenceApp,
  };
  const ingestor = createIngestor(database.db, { onCall: (call) => calls.push(call) });
  app = createWebhooksApp({
    ...base,
    logger: captured.logger,
    counters,
    ingestor: together(ingestor, 2),
  });
  alone = createWebhooksApp({ ...base, logger: capturedLogger().logger });
});

function postStripe(subject: typeof app, id: string) {
  const body = JSON.stringify({ id, object: 'event', type: 'charge.succeeded', data: {} });
  return subject.request('/webhooks/stripe', {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      ...signStripe(body, STRIPE_SECRET, Math.floor(Date.now() / 1000)),
    },
  });
}

async function stored(pattern: string) {
  const [row] = await database.db.query<{ events: number; jobs: number }>(
    `select (select count(*) from inbound_events where event_key like $1)::int as events,
            (select count(*) from jobs where dedupe_key like 'inbound:%:' || $1)::int as jobs`,
    [pattern],
  );
  return row!;
}

describe('a value Postgres refuses', () => {
  it('fails only its own delivery when it shares a call with a good one: 400 and 200', async () => {
    const suffix = crypto.randomUUID();
    const [hostile, good] = await Promise.all([
      postStripe(app, `refuse-${suffix}`),
      postStripe(app, `evt_${suffix}`),
    ]);

    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ status: 'accepted' });
    expect(hostile.status).toBe(400);
    expect(hostile.headers.get('content-type')).toContain('application/problem+json');
    const text = await hostile.text();
    expect(JSON.parse(text)).toMatchObject({ status: 400, detail: INPUT_REFUSED_DETAIL });
    // The server's message names an internal index: it never reaches the sender.
    expect(text).not.toContain('inbound_events');
    expect(text).not.toContain('btree');

    expect(await stored(`refuse-${suffix}`)).toEqual({ events: 0, jobs: 0 });
    expect(await stored(`evt_${suffix}`)).toEqual({ events: 1, jobs: 1 });
    // They did share a call, which failed as a whole; each was then sent alone.
    expect(calls[0]).toMatchObject({ events: 2, ok: false });
    expect(calls.slice(1).map((call) => call.ok).sort()).toEqual([false, true]);

    // Counted and logged with its SQLSTATE, never with the server's message.
    expect(counts()).toMatchObject({
      'gatehouse_webhook_rejected_total{provider="stripe",reason="input_refused"}': 1,
      'gatehouse_webhook_events_total{outcome="accepted",provider="stripe"}': 1,
    });
    const line = captured.entries().find((entry) => entry.status === 400);
    expect(line).toMatchObject({ reason: 'input_refused', sqlstate: '54000' });
    expect(captured.lines.join('\n')).not.toContain('btree');
  });

  it('gets 400 on its own, and a redelivery gets 400 again', async () => {
    const id = `refuse-${crypto.randomUUID()}`;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const res = await postStripe(alone, id);
      expect(res.status).toBe(400);
    }
    expect(await stored(id)).toEqual({ events: 0, jobs: 0 });
  });

  it('gets 400 on the USSD route too, with nothing stored', async () => {
    const sessionId = `refuse-${crypto.randomUUID()}`;
    const res = await alone.request(`/webhooks/ussd/${USSD_TOKEN}`, {
      method: 'POST',
      body: new URLSearchParams({
        sessionId,
        serviceCode: '*384*1234#',
        phoneNumber: '+254711000111',
        networkCode: '63902',
        text: '1*Depot',
      }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ detail: INPUT_REFUSED_DETAIL });
    expect(await stored(`${sessionId}%`)).toEqual({ events: 0, jobs: 0 });
  });
});
