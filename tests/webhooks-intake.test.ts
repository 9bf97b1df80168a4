/**
 * The intake path end to end: a signed delivery through the webhooks app, a real database,
 * and what a provider and an operator see afterwards.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createFlagReader } from '../functions/_shared/flags/index.ts';
import { createPostgresDb } from '../functions/_shared/db/postgres.ts';
import {
  signStandard,
  signStripe,
  signWhatsApp,
  whatsappNotification,
} from './support/webhooks/index.ts';
import { createWebhooksApp, type WebhooksDeps } from '../functions/webhooks/index.ts';
import { createIngestor } from '../functions/_shared/webhooks/ingest.ts';
import { countedIntake } from './support/intake-counters.ts';
import { DEFAULT_INTAKE_LIMITS } from '../functions/_shared/webhooks/limits.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { freePort } from './support/process.ts';
import { NO_SHEDDING } from './support/ingest.ts';

const APP_SECRET = 'whatsapp-app-secret';
const STRIPE_SECRET = 'whsec_stripe_test_secret';
const STANDARD_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const config = parseConfig({
  WHATSAPP_APP_SECRET: `${APP_SECRET},older-secret`,
  WHATSAPP_VERIFY_TOKEN: 'verify-me',
  STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
  WEBHOOK_SECRET_BILLING: STANDARD_SECRET,
});

const database = useMigratedDatabase();
let tasks: Promise<unknown>[];
beforeEach(() => {
  tasks = [];
});

function app(overrides: Partial<WebhooksDeps> = {}) {
  return createWebhooksApp({
    config,
    db: database.db,
    logger: capturedLogger().logger,
    clock: systemClock,
    fetch,
    background: (task) => tasks.push(task),
    ...overrides,
  });
}

/** The app with a WhatsApp business number limit of `capacity` (a token back every 100 s). */
function appWithNumberLimit(capacity: number, overrides: Partial<WebhooksDeps> = {}) {
  return app({
    ...overrides,
    limits: {
      ...DEFAULT_INTAKE_LIMITS,
      whatsappPerNumber: { capacity, refillPerSecond: 0.01 },
    },
  });
}

let serial = 0;
function unique(prefix: string) {
  serial += 1;
  return `${prefix}${serial}${crypto.randomUUID().slice(0, 8)}`;
}

function whatsappBody(
  messages: { id: string; from: string; text?: string }[],
  statuses: { id: string; status: string }[] = [],
  phoneNumberId = 'PNID-1',
) {
  return whatsappNotification(messages, { statuses, phoneNumberId });
}

function postWhatsApp(body: string, subject = app(), secret = APP_SECRET) {
  return subject.request('/webhooks/whatsapp', {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...signWhatsApp(body, secret) },
  });
}

async function countFor(key: string) {
  const [row] = await database.db.query<{ events: number; jobs: number }>(
    `select (select count(*) from inbound_events where event_key = $1)::int as events,
            (select count(*) from jobs j join inbound_events e
               on e.id = (j.payload->>'inbound_event_id')::bigint where e.event_key = $1)::int as jobs`,
    [key],
  );
  return row!;
}

describe('WhatsApp intake', () => {
  it('answers Meta verification with the challenge, and 403 otherwise', async () => {
    const ok = await app().request(
      '/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444',
    );
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toContain('text/plain');
    expect(await ok.text()).toBe('1158201444');
    const bad = await app().request(
      '/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1',
    );
    expect(bad.status).toBe(403);
  });

  it('stores a message durably before answering 200, with one job', async () => {
    const wamid = unique('wamid.');
    const res = await postWhatsApp(whatsappBody([{ id: wamid, from: '15551234567' }]));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'accepted' });
    expect(await countFor(wamid)).toEqual({ events: 1, jobs: 1 });
    const [job] = await database.db.query<{ queue: string; kind: string; request_id: string }>(
      `select queue, kind, request_id from jobs where dedupe_key = $1`,
      [`inbound:whatsapp:${wamid}`],
    );
    expect(job).toEqual({
      queue: 'whatsapp',
      kind: 'whatsapp.message',
      request_id: res.headers.get('x-request-id'),
    });
  });

  it('stores a large delivery with a declared length, and refuses one shorter than declared', async () => {
    const wamid = unique('wamid.');
    const body = whatsappBody([{ id: wamid, from: '15551234567', text: 'x'.repeat(200_000) }]);
    const bytes = new TextEncoder().encode(body).byteLength;
    const post = (declared: number) =>
      app().request('/webhooks/whatsapp', {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          'content-length': String(declared),
          ...signWhatsApp(body, APP_SECRET),
        },
      });
    const res = await post(bytes);
    expect(res.status).toBe(200);
    expect(await countFor(wamid)).toEqual({ events: 1, jobs: 1 });
    const short = await post(bytes - 1);
    expect(short.status).toBe(400);
    expect((await short.json()).detail).toBe('body length differs from Content-Length');
  });

  it('answers a redelivery 200 duplicate and creates no job', async () => {
    const wamid = unique('wamid.');
    const body = whatsappBody([{ id: wamid, from: '15551234567' }]);
    expect((await postWhatsApp(body)).status).toBe(200);
    const again = await postWhatsApp(body);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ status: 'duplicate' });
    expect(await countFor(wamid)).toEqual({ events: 1, jobs: 1 });
  });

  it('turns 64 concurrent identical deliveries into exactly one event and one job', async () => {
    const wamid = unique('wamid.');
    const body = whatsappBody([{ id: wamid, from: '15557654321' }]);
    // The race under test is deduplication, not shedding (see NO_SHEDDING).
    const subject = app({ ingestor: createIngestor(database.db, { overload: NO_SHEDDING }) });
    const responses = await Promise.all(
      Array.from({ length: 64 }, () => postWhatsApp(body, subject)),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(64).fill(200));
    const statuses = await Promise.all(responses.map(async (r) => (await r.json()).status));
    expect(statuses.filter((s) => s === 'accepted')).toHaveLength(1);
    expect(statuses.filter((s) => s === 'duplicate')).toHaveLength(63);
    expect(await countFor(wamid)).toEqual({ events: 1, jobs: 1 });
  });

  it('splits a batch into messages and statuses, keyed by wamid and status id + status', async () => {
    const a = unique('wamid.a');
    const b = unique('wamid.b');
    const body = whatsappBody([{ id: a, from: '1555' }, { id: b, from: '1666' }], [
      { id: a, status: 'delivered' },
      { id: a, status: 'read' },
    ]);
    expect((await postWhatsApp(body)).status).toBe(200);
    const rows = await database.db.query<{ event_key: string; event_type: string }>(
      `select event_key, event_type from inbound_events where event_key like any($1) order by event_key`,
      [[`${a}%`, `${b}%`]],
    );
    expect(rows).toEqual([
      { event_key: a, event_type: 'message' },
      { event_key: `${a}:delivered`, event_type: 'status' },
      { event_key: `${a}:read`, event_type: 'status' },
      { event_key: b, event_type: 'message' },
    ]);
  });

  it('verifies the unicode-escaped bytes Meta sends and stores the decoded text', async () => {
    const wamid = unique('wamid.');
    const body = whatsappBody([{ id: wamid, from: '1555', text: 'PLACEHOLDER' }])
      .replace('PLACEHOLDER', 'caf\\u00e9 \\ud83d\\ude97');
    const res = await postWhatsApp(body);
    expect(res.status).toBe(200);
    const [row] = await database.db.query<{ text: string }>(
      `select payload #>> '{message,text,body}' as text from inbound_events where event_key = $1`,
      [wamid],
    );
    expect(row?.text).toBe('café 🚗');
  });

  it('accepts a delivery signed with the older of two rotated secrets', async () => {
    const wamid = unique('wamid.');
    const res = await postWhatsApp(
      whatsappBody([{ id: wamid, from: '1555' }]),
      app(),
      'older-secret',
    );
    expect(res.status).toBe(200);
  });

  it('stores a sender over 100/min as rate_limited with 200, and no job', async () => {
    const sender = unique('1999');
    const ids = Array.from({ length: 101 }, () => unique('wamid.s'));
    const body = whatsappBody(ids.map((id) => ({ id, from: sender })));
    const res = await postWhatsApp(body);
    expect(res.status).toBe(200);
    const [row] = await database.db.query<{ accepted: number; limited: number; jobs: number }>(
      `select count(*) filter (where status = 'accepted')::int as accepted,
              count(*) filter (where status = 'rate_limited')::int as limited,
              (select count(*) from jobs j join inbound_events e2
                 on e2.id = (j.payload->>'inbound_event_id')::bigint where e2.sender = $1)::int as jobs
         from inbound_events where sender = $1`,
      [sender],
    );
    expect(row).toEqual({ accepted: 100, limited: 1, jobs: 100 });
  });

  it('answers 429 with Retry-After when the business number is over its limit', async () => {
    const number = unique('PNID-');
    const subject = appWithNumberLimit(2);
    const send = (id: string) =>
      postWhatsApp(whatsappBody([{ id, from: '1' }], [], number), subject);
    expect((await send(unique('wamid.n'))).status).toBe(200);
    expect((await send(unique('wamid.n'))).status).toBe(200);
    const limited = await send(unique('wamid.n'));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('stores a delivery with more events than the number may take in a minute once its bucket is full', async () => {
    // Meta may batch more messages than the per-number capacity into one delivery; a 429
    // could never have turned into a 200 on retry.
    const number = unique('PNID-');
    const subject = appWithNumberLimit(2);
    const ids = Array.from({ length: 5 }, () => unique('wamid.big.'));
    const big = await postWhatsApp(
      whatsappBody(ids.map((id) => ({ id, from: '15550004444' })), [], number),
      subject,
    );
    expect(big.status).toBe(200);
    const stored = await database.db.query<{ n: number }>(
      `select count(*)::int as n from inbound_events
        where provider = 'whatsapp' and event_key = any($1::text[]) and status = 'accepted'`,
      [ids],
    );
    expect(stored).toEqual([{ n: 5 }]);
    // The bucket is empty now: the next delivery waits for it to refill.
    const next = await postWhatsApp(
      whatsappBody([{ id: unique('wamid.big.'), from: '15550004444' }], [], number),
      subject,
    );
    expect(next.status).toBe(429);
    expect(Number(next.headers.get('retry-after'))).toBeGreaterThanOrEqual(99);
  });

  it("stores the message and its job; the log row is the job's to write", async () => {
    const wamid = unique('wamid.');
    const res = await postWhatsApp(
      whatsappBody([{ id: wamid, from: '15550001111', text: 'ride please' }]),
    );
    expect(res.status).toBe(200);
    await Promise.all(tasks);
    const logged = await database.db.query('select 1 from whatsapp_logs where wa_message_id = $1', [
      wamid,
    ]);
    expect(logged).toEqual([]);
    const [event] = await database.db.query<{ status: string; jobs: number }>(
      `select e.status, (select count(*)::int from jobs j
                          where j.payload ->> 'inbound_event_id' = e.id::text) as jobs
         from inbound_events e where e.provider = 'whatsapp' and e.event_key = $1`,
      [wamid],
    );
    expect(event).toEqual({ status: 'accepted', jobs: 1 });
  });
});

describe('what the request line tells', () => {
  it('says accepted or duplicate and names the event keys, so a grep finds a delivery', async () => {
    const logs = capturedLogger();
    const subject = app({ logger: logs.logger });
    const [first, second] = [unique('wamid.line.'), unique('wamid.line.')];
    const body = whatsappBody([{ id: first, from: '15550001111' }, { id: second, from: '1' }]);
    expect((await postWhatsApp(body, subject)).status).toBe(200);
    expect((await postWhatsApp(body, subject)).status).toBe(200);
    const requests = logs.entries().filter((line) => line.msg === 'request');
    expect(requests.map((line) => [line.outcome, line.events, line.event_keys])).toEqual([
      ['accepted', 2, [first, second]],
      ['duplicate', 2, [first, second]],
    ]);
  });

  it('says rate_limited for a delivery refused over its provider limit (429), and names its keys', async () => {
    const logs = capturedLogger();
    const number = unique('PNID-');
    const subject = appWithNumberLimit(1, { logger: logs.logger });
    const [first, second] = [unique('wamid.lim.'), unique('wamid.lim.')];
    const send = (id: string) =>
      postWhatsApp(whatsappBody([{ id, from: '15550003333' }], [], number), subject);
    expect((await send(first)).status).toBe(200);
    expect((await send(second)).status).toBe(429);
    const requests = logs.entries().filter((line) => line.msg === 'request');
    expect(requests.map((line) => [line.status, line.outcome, line.event_keys])).toEqual([
      [200, 'accepted', [first]],
      [429, 'rate_limited', [second]],
    ]);
    expect(requests[1]).toMatchObject({ reason: 'throttled' });
  });

  it('says rate_limited, reason edge_rate_limited, for an address over the per-IP tier', async () => {
    const logs = capturedLogger();
    const subject = app({
      logger: logs.logger,
      edgeLimiter: { check: () => Promise.resolve({ allowed: false, retryAfterMs: 5_000 }) },
    });
    const res = await postWhatsApp(whatsappBody([{ id: unique('wamid.ip.'), from: '1' }]), subject);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(logs.entries().find((line) => line.msg === 'request')).toMatchObject({
      status: 429,
      outcome: 'rate_limited',
      reason: 'edge_rate_limited',
    });
  });

  it('says rate_limited for events stored over their sender limit, and accepted beside any other', async () => {
    const logs = capturedLogger();
    const subject = app({ logger: logs.logger });
    const sender = unique('1888');
    const ids = Array.from({ length: 100 }, () => unique('wamid.fill.'));
    const over = unique('wamid.over.');
    const fill = whatsappBody(ids.map((id) => ({ id, from: sender })));
    expect((await postWhatsApp(fill, subject)).status).toBe(200);
    expect((await postWhatsApp(whatsappBody([{ id: over, from: sender }]), subject)).status)
      .toBe(200);
    const requests = logs.entries().filter((line) => line.msg === 'request');
    expect(requests.map((line) => [line.outcome, line.outcomes])).toEqual([
      ['accepted', undefined],
      ['rate_limited', { rate_limited: 1 }],
    ]);
  });

  it('names ten keys and counts the rest', async () => {
    const logs = capturedLogger();
    const ids = Array.from({ length: 12 }, () => unique('wamid.many.'));
    const body = whatsappBody(ids.map((id) => ({ id, from: '15550002222' })));
    expect((await postWhatsApp(body, app({ logger: logs.logger }))).status).toBe(200);
    expect(logs.entries().find((line) => line.msg === 'request')).toMatchObject({
      outcome: 'accepted',
      events: 12,
      event_keys: ids.slice(0, 10),
      event_keys_more: 2,
    });
  });
});

describe('rejected deliveries write nothing', () => {
  async function eventCount() {
    const [row] = await database.db.query<{ n: number }>(
      `select count(*)::int as n from inbound_events`,
    );
    return row!.n;
  }

  it.each(
    [
      [
        'a bad signature',
        () => ({
          'x-hub-signature-256': `sha256=${'0'.repeat(64)}`,
          'content-type': 'application/json',
        }),
        401,
      ],
      ['no signature', () => ({ 'content-type': 'application/json' }), 401],
      [
        'a wrong content type',
        (body: string) => ({
          ...signWhatsApp(body, APP_SECRET),
          'content-type': 'text/plain',
        }),
        415,
      ],
    ] as const,
  )('%s', async (_name, headers, status) => {
    const before = await eventCount();
    const body = whatsappBody([{ id: unique('wamid.x'), from: '1' }]);
    const res = await app().request('/webhooks/whatsapp', {
      method: 'POST',
      body,
      headers: (headers as (body: string) => Record<string, string>)(body),
    });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(await eventCount()).toBe(before);
  });

  it('counts each rejection by reason, each stored event by outcome, and what the buckets decided', async () => {
    const { counters, counts } = countedIntake();
    const subject = app({ counters });
    const body = whatsappBody([{ id: unique('wamid.c'), from: '1' }]);
    await subject.request('/webhooks/whatsapp', {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'x-hub-signature-256': `sha256=${'1'.repeat(64)}`,
      },
    });
    await postWhatsApp(body, subject);
    await postWhatsApp(body, subject);
    expect(counts()).toEqual({
      'gatehouse_webhook_requests_total{provider="whatsapp"}': 3,
      'gatehouse_webhook_rejected_total{provider="whatsapp",reason="signature_mismatch"}': 1,
      'gatehouse_webhook_events_total{outcome="accepted",provider="whatsapp"}': 1,
      'gatehouse_webhook_events_total{outcome="duplicate",provider="whatsapp"}': 1,
      // The number's bucket decides each stored delivery; the sender's only a new event.
      'gatehouse_rate_limit_decisions_total{decision="allowed",scope="intake_provider"}': 2,
      'gatehouse_rate_limit_decisions_total{decision="allowed",scope="intake_sender"}': 1,
    });
  });

  it('answers 400 for signed malformed JSON and for a wrong shape', async () => {
    const before = await eventCount();
    for (const body of ['{"object": ', '{"entry": "nope"}']) {
      const res = await postWhatsApp(body);
      expect(res.status).toBe(400);
    }
    expect(await eventCount()).toBe(before);
  });

  it('answers 413 above the body limit, with or without Content-Length', async () => {
    const body = 'x'.repeat(3 * 1024 * 1024 + 1);
    const res = await app().request('/webhooks/whatsapp', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=00' },
    });
    expect(res.status).toBe(413);
    const stripe = await app().request('/webhooks/stripe', {
      method: 'POST',
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('y'.repeat(1024 * 1024 + 1)));
          controller.close();
        },
      }),
      headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' },
      // @ts-expect-error: Node's fetch needs duplex for a streamed body.
      duplex: 'half',
    });
    expect(stripe.status).toBe(413);
  });

  it('refuses a delivery without its signature header with 401 before reading the body', async () => {
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        controller.enqueue(new TextEncoder().encode('{"id":"evt_unsigned"}'));
        controller.close();
      },
    }, { highWaterMark: 0 });
    const logs = capturedLogger();
    const res = await app({ logger: logs.logger }).request('/webhooks/stripe', {
      method: 'POST',
      body,
      // Over the 64 KiB a refusal reads to keep its connection (a smaller body is read
      // after the refusal and discarded; see the local server's keep-alive test).
      headers: { 'content-type': 'application/json', 'content-length': '70000' },
      // @ts-expect-error: Node's fetch needs duplex for a streamed body.
      duplex: 'half',
    });
    expect(res.status).toBe(401);
    expect(pulled).toBe(0);
    expect(res.headers.get('connection')).toBe('close');
    expect(logs.entries().find((line) => line.msg === 'request')).toMatchObject({
      reason: 'missing_header',
    });
  });

  it('answers 413 when a declared Content-Length understates a body over the limit', async () => {
    const before = await eventCount();
    const res = await app().request('/webhooks/stripe', {
      method: 'POST',
      body: 'z'.repeat(1024 * 1024 + 1),
      headers: {
        'content-type': 'application/json',
        'content-length': '2',
        'stripe-signature': 't=1,v1=00',
      },
    });
    expect(res.status).toBe(413);
    expect(await eventCount()).toBe(before);
  });

  it('answers 405 for a wrong method', async () => {
    const res = await app().request('/webhooks/stripe', { method: 'PUT', body: '{}' });
    expect(res.status).toBe(405);
  });

  it('answers 503 when intake for the provider is switched off, then accepts again', async () => {
    const clock = { now: () => Date.now() };
    const flags = createFlagReader(database.db, { clock, maxAgeMs: 0 });
    const subject = app({ flags });
    const wamid = unique('wamid.');
    const body = whatsappBody([{ id: wamid, from: '1' }]);
    await database.db.query(
      `update feature_flags set enabled = false where key = 'intake.whatsapp'`,
    );
    try {
      const off = await postWhatsApp(body, subject);
      expect(off.status).toBe(503);
      expect(off.headers.get('retry-after')).toBe('30');
      expect(await countFor(wamid)).toEqual({ events: 0, jobs: 0 });
    } finally {
      await database.db.query(
        `update feature_flags set enabled = true where key = 'intake.whatsapp'`,
      );
    }
    expect((await postWhatsApp(body, subject)).status).toBe(200);
    expect(await countFor(wamid)).toEqual({ events: 1, jobs: 1 });
  });

  it('answers 503, never 200, when the database is unreachable', async () => {
    const gone = createPostgresDb({ url: `postgres://u@127.0.0.1:${await freePort()}/x`, max: 1 });
    const res = await postWhatsApp(
      whatsappBody([{ id: unique('wamid.'), from: '1' }]),
      app({ db: gone }),
    );
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBeTruthy();
    await gone.close(0);
  });
});

describe('Stripe intake', () => {
  const event = (id: string) =>
    JSON.stringify({ id, object: 'event', type: 'payment_intent.succeeded', data: { object: {} } });

  it('stores a signed event keyed by its id, and de-duplicates', async () => {
    const id = unique('evt_');
    const body = event(id);
    const post = () =>
      app().request('/webhooks/stripe', {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          ...(signStripe(body, STRIPE_SECRET, Math.floor(Date.now() / 1000))),
        },
      });
    expect(await (await post()).json()).toEqual({ status: 'accepted' });
    expect(await (await post()).json()).toEqual({ status: 'duplicate' });
    expect(await countFor(id)).toEqual({ events: 1, jobs: 1 });
  });

  it('refuses a stale signature', async () => {
    const body = event(unique('evt_'));
    const res = await app().request('/webhooks/stripe', {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        ...(signStripe(body, STRIPE_SECRET, Math.floor(Date.now() / 1000) - 301)),
      },
    });
    expect(res.status).toBe(401);
  });
});

describe('Standard Webhooks intake', () => {
  it('verifies with the source secret and keys the event by webhook-id', async () => {
    const id = unique('msg_');
    const body = JSON.stringify({
      type: 'invoice.paid',
      timestamp: new Date().toISOString(),
      data: {},
    });
    const headers = signStandard(id, Math.floor(Date.now() / 1000), body, STANDARD_SECRET);
    const res = await app().request('/webhooks/standard/billing', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
    });
    expect(res.status).toBe(200);
    const [row] = await database.db.query<{ provider: string; event_type: string }>(
      `select provider, event_type from inbound_events where event_key = $1`,
      [id],
    );
    expect(row).toEqual({ provider: 'standard:billing', event_type: 'invoice.paid' });
  });

  it('says at start which providers refuse everything for want of a secret', () => {
    const captured = capturedLogger();
    createWebhooksApp({
      config: parseConfig({ WHATSAPP_APP_SECRET: APP_SECRET }),
      db: database.db,
      logger: captured.logger,
      clock: systemClock,
      fetch,
    });
    expect(captured.entries().map((entry) => [entry.level, entry.msg])).toEqual([
      ['warn', 'stripe intake refuses every delivery: STRIPE_WEBHOOK_SECRET is not set'],
      ['warn', 'paypal intake refuses every delivery: PAYPAL_WEBHOOK_ID is not set'],
      [
        'warn',
        'ussd intake refuses every callback: neither USSD_PATH_TOKEN nor USSD_ALLOWED_IPS is set',
      ],
    ]);
  });

  it('refuses a source with no secret configured (fail closed)', async () => {
    const body = '{}';
    const headers = signStandard(
      'msg_1',
      Math.floor(Date.now() / 1000),
      body,
      STANDARD_SECRET,
    );
    const res = await app().request('/webhooks/standard/unknown', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
    });
    expect(res.status).toBe(401);
  });
});
