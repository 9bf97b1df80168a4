/**
 * The WhatsApp Cloud API client against a local Graph API stub speaking Meta's protocol:
 * message shapes (text, list, reply buttons, threaded replies), each class of Meta's
 * errors and what the job engine makes of it, media download with its caps, the shared
 * breaker, and outbound messages' state in whatsapp_logs moved forward only by status
 * webhooks arriving in any order.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CircuitOpenError, createBreakers } from '../functions/_shared/breaker/index.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createJobRunner } from '../functions/_shared/jobs/index.ts';
import { PermanentJobError, RetryJobError } from '../functions/_shared/queue/errors.ts';
import {
  createWhatsAppClient,
  jobErrorFor,
  logOutboundMessage,
  type OutboundMessage,
  WhatsAppApiError,
} from '../functions/_shared/whatsapp/index.ts';
import { createWebhooksApp } from '../functions/webhooks/index.ts';
import { startBlackHole } from './support/black-hole.ts';
import { type GraphApiStub, startGraphApiStub } from '../cli/sandbox/graph-api.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { signWhatsApp, whatsappDelivery } from './support/webhooks/index.ts';

const database = useMigratedDatabase({
  reset: 'delete from circuit_breakers; delete from whatsapp_logs; delete from jobs; ' +
    'delete from dead_jobs; delete from inbound_events;',
});

let graph: GraphApiStub;
beforeEach(async () => {
  graph = await startGraphApiStub();
});
afterEach(async () => {
  await graph.close();
});

function client(extra: Partial<Parameters<typeof createWhatsAppClient>[0]> = {}) {
  return createWhatsAppClient({
    graphUrl: graph.url,
    accessToken: graph.token,
    phoneNumberId: 'PNID-1',
    ...extra,
  });
}

const MENU: OutboundMessage = {
  type: 'list',
  header: 'Mobility hub',
  body: 'What would you like to do?',
  button: 'Menu',
  sections: [{
    title: 'Rides',
    rows: [
      { id: 'ride.schedule', title: 'Schedule a ride', description: 'Pickup now or later' },
      { id: 'ride.mine', title: 'My rides' },
    ],
  }, { title: 'Account', rows: [{ id: 'help', title: 'Help' }] }],
};

describe('sending', () => {
  it("sends text, an interactive list and reply buttons in Meta's shapes, replies threaded", async () => {
    const whatsapp = client();
    const text = await whatsapp.send('15551230001', { type: 'text', text: 'Hi Ada' });
    expect(text.messageId).toMatch(/^wamid\./);
    expect(text.waId).toBe('15551230001');
    await whatsapp.send('15551230001', MENU, { replyTo: 'wamid.IN1' });
    await whatsapp.send('15551230001', {
      type: 'buttons',
      body: 'Confirm the pickup?',
      buttons: [{ id: 'yes', title: 'Yes' }, { id: 'no', title: 'No' }],
    });
    expect(graph.sent.map((s) => s.phoneNumberId)).toEqual(['PNID-1', 'PNID-1', 'PNID-1']);
    expect(graph.sent[0]!.body).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '15551230001',
      type: 'text',
      text: { body: 'Hi Ada', preview_url: false },
    });
    expect(graph.sent[1]!.body).toMatchObject({
      context: { message_id: 'wamid.IN1' },
      type: 'interactive',
      interactive: {
        type: 'list',
        header: { type: 'text', text: 'Mobility hub' },
        body: { text: 'What would you like to do?' },
        action: {
          button: 'Menu',
          sections: [
            {
              title: 'Rides',
              rows: [
                {
                  id: 'ride.schedule',
                  title: 'Schedule a ride',
                  description: 'Pickup now or later',
                },
                { id: 'ride.mine', title: 'My rides' },
              ],
            },
            { title: 'Account', rows: [{ id: 'help', title: 'Help' }] },
          ],
        },
      },
    });
    expect(graph.sent[2]!.body).toMatchObject({
      interactive: {
        type: 'button',
        action: {
          buttons: [
            { type: 'reply', reply: { id: 'yes', title: 'Yes' } },
            { type: 'reply', reply: { id: 'no', title: 'No' } },
          ],
        },
      },
    });
  });

  it("refuses a message past Meta's limits before calling", async () => {
    const rows = Array.from({ length: 11 }, (_, i) => ({ id: `r${i}`, title: `Row ${i}` }));
    await expect(client().send('1555', { ...MENU, sections: [{ rows }] } as OutboundMessage))
      .rejects.toThrow('a list has 1 to 10 rows in all');
    await expect(
      client().send('1555', {
        type: 'buttons',
        body: 'Pick',
        buttons: [{ id: 'a', title: 'A title longer than twenty' }],
      }),
    ).rejects.toThrow('button title must be 1 to 20 characters (got 26)');
    expect(graph.requests).toEqual([]);
  });
});

describe("Meta's errors", () => {
  const cases: [string, { status: number; code?: number; retryAfter?: string }, string, string][] =
    [
      [
        'outside the 24-hour window',
        { status: 400, code: 131047 },
        'permanent',
        'PermanentJobError',
      ],
      ['an invalid parameter', { status: 400, code: 100 }, 'permanent', 'PermanentJobError'],
      ['an expired token', { status: 401, code: 190 }, 'permanent', 'PermanentJobError'],
      ['throughput exceeded', { status: 400, code: 130429 }, 'throttled', 'RetryJobError'],
      [
        'the pair rate limit',
        { status: 400, code: 131056 },
        'recipient_throttled',
        'RetryJobError',
      ],
      ['HTTP 429', { status: 429, retryAfter: '7' }, 'throttled', 'RetryJobError'],
      ['something went wrong', { status: 500, code: 131000 }, 'transient', 'RetryJobError'],
      ['a bare 503', { status: 503 }, 'transient', 'RetryJobError'],
    ];
  for (const [what, failure, kind, jobError] of cases) {
    it(`classifies ${what} as ${kind} (${jobError})`, async () => {
      graph.failNext.push(failure);
      const error = await client().send('1555', { type: 'text', text: 'x' }).catch((e) => e);
      expect(error).toBeInstanceOf(WhatsAppApiError);
      expect(error.kind).toBe(kind);
      expect(error.details).toMatchObject({ status: failure.status, code: failure.code ?? null });
      const forJob = jobErrorFor(error) as Error;
      expect(forJob.name).toBe(jobError);
      expect(forJob.message).toBe(error.message);
      if (failure.retryAfter) expect((forJob as RetryJobError).retryInMs).toBe(7_000);
    });
  }

  it("keeps Meta's message and trace id, never the token", async () => {
    graph.failNext.push({ status: 400, code: 131047, message: 'Re-engagement message' });
    const error = await client().send('1555', { type: 'text', text: 'x' }).catch((e) => e);
    expect(error.message).toBe(
      'Graph API 400 code 131047: (#131047) Re-engagement message (Re-engagement message)',
    );
    expect(error.details.fbtraceId).toBe('AbCdEfGh123');
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain(
      graph.token,
    );
  });

  it('treats no answer (refused, or hanging past the timeout) as transient', async () => {
    const closed = createWhatsAppClient({
      graphUrl: 'http://127.0.0.1:9/v21.0',
      accessToken: 't',
      phoneNumberId: 'P',
    });
    const refused = await closed.send('1555', { type: 'text', text: 'x' }).catch((e) => e);
    expect(refused).toMatchObject({ kind: 'transient', details: { status: 0 } });
    expect(refused.message).toMatch(/^Graph API unreachable \(\w+\)$/);
    const hole = await startBlackHole();
    try {
      const hanging = createWhatsAppClient({
        graphUrl: `http://127.0.0.1:${hole.port}/v21.0`,
        accessToken: 't',
        phoneNumberId: 'P',
        timeoutMs: 200,
      });
      const timedOut = await hanging.send('1555', { type: 'text', text: 'x' }).catch((e) => e);
      expect(timedOut).toMatchObject({ kind: 'transient' });
      expect(jobErrorFor(timedOut)).toBeInstanceOf(RetryJobError);
    } finally {
      await hole.close();
    }
  });
});

describe('media download', () => {
  it('follows media id → URL → bytes with the token, and checks the size', async () => {
    const bytes = new TextEncoder().encode('a plate photo, pretend');
    graph.media.set('MEDIA-1', { bytes, mimeType: 'image/jpeg' });
    const media = await client().downloadMedia('MEDIA-1');
    expect(new TextDecoder().decode(media.bytes)).toBe('a plate photo, pretend');
    expect(media.mimeType).toBe('image/jpeg');
    expect(media.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(graph.mediaAuth).toEqual([`Bearer ${graph.token}`]);

    const big = await client().downloadMedia('MEDIA-1', { maxBytes: 10 }).catch((e) => e);
    expect(big).toBeInstanceOf(WhatsAppApiError);
    expect(big.message).toBe(`media is ${bytes.byteLength} bytes, over the 10-byte cap`);
    expect(jobErrorFor(big)).toBeInstanceOf(PermanentJobError);
    expect(graph.mediaAuth).toHaveLength(1); // refused before downloading
  });

  it('never sends the token to a URL off Meta’s hosts', async () => {
    graph.media.set('MEDIA-2', {
      bytes: new Uint8Array([1]),
      mimeType: 'image/png',
      url: 'https://attacker.example/steal',
    });
    const error = await client().downloadMedia('MEDIA-2').catch((e) => e);
    expect(error.message).toBe('media url is not on a Meta host');
    expect(error.kind).toBe('permanent');
  });
});

describe('with the shared breaker', () => {
  it('opens after consecutive transient failures, then refuses without calling Meta', async () => {
    const breakers = createBreakers(database.db, { clock: systemClock });
    const whatsapp = client({
      breaker: breakers.get('whatsapp.graph', { failureThreshold: 3, openMs: 30_000 }),
    });
    for (let i = 0; i < 3; i++) graph.failNext.push({ status: 503 });
    for (let i = 0; i < 3; i++) {
      await expect(whatsapp.send('1555', { type: 'text', text: 'x' })).rejects.toMatchObject({
        kind: 'transient',
      });
    }
    const calls = graph.requests.length;
    const refused = await whatsapp.send('1555', { type: 'text', text: 'x' }).catch((e) => e);
    expect(refused).toBeInstanceOf(CircuitOpenError);
    expect(graph.requests).toHaveLength(calls);
    const retry = jobErrorFor(refused) as RetryJobError;
    expect(retry).toBeInstanceOf(RetryJobError);
    expect(retry.retryInMs).toBeGreaterThan(25_000);
    // Another instance refuses too: the state is in Postgres.
    const other = client({
      breaker: createBreakers(database.db, { clock: systemClock }).get('whatsapp.graph'),
    });
    await expect(other.send('1555', { type: 'text', text: 'x' })).rejects.toBeInstanceOf(
      CircuitOpenError,
    );
  });

  it("does not count the user's own errors against Meta", async () => {
    const breaker = createBreakers(database.db, { clock: systemClock }).get('whatsapp.graph', {
      failureThreshold: 2,
    });
    const whatsapp = client({ breaker });
    for (const failure of [{ status: 400, code: 131047 }, { status: 400, code: 131056 }]) {
      graph.failNext.push(failure, failure, failure);
      for (let i = 0; i < 3; i++) {
        await expect(whatsapp.send('1555', { type: 'text', text: 'x' })).rejects.toBeInstanceOf(
          WhatsAppApiError,
        );
      }
    }
    expect((await whatsapp.send('1555', { type: 'text', text: 'ok' })).messageId).toMatch(
      /^wamid\./,
    );
    const rows = await database.db.query<{ state: string }>(
      `select state from circuit_breakers where name = 'whatsapp.graph'`,
    );
    expect(rows.every((row) => row.state === 'closed')).toBe(true);
  });
});

const APP_SECRET = 'whatsapp-status-secret';

/** A status notification as Meta sends it, for one outbound message. */
function statusNotification(
  wamid: string,
  status: string,
  timestamp: number,
  errors?: { code: number; title: string }[],
) {
  return whatsappDelivery({
    statuses: [{
      id: wamid,
      status,
      timestamp: String(timestamp),
      recipient_id: '15551230001',
      ...(errors ? { errors } : {}),
    }],
  });
}

describe('outbound state in whatsapp_logs', () => {
  const config = parseConfig({ WHATSAPP_APP_SECRET: APP_SECRET });
  const deps = () => ({
    config,
    db: database.db,
    logger: capturedLogger().logger,
    clock: systemClock,
  });

  /** Meta posts status webhooks; the worker runs their jobs. */
  async function deliverStatuses(...bodies: string[]) {
    const webhooks = createWebhooksApp({ ...deps(), fetch, background: () => {} });
    for (const body of bodies) {
      const res = await webhooks.request('/webhooks/whatsapp', {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...signWhatsApp(body, APP_SECRET) },
      });
      expect(res.status).toBe(200);
    }
    await createJobRunner(deps()).pass({ queues: ['whatsapp'] });
  }

  async function logOf(wamid: string) {
    const [row] = await database.db.query<Record<string, unknown>>(
      `select direction, status, message_type, body, contact_phone, error_code, error_title,
              status_at
         from whatsapp_logs where wa_message_id = $1`,
      [wamid],
    );
    return row;
  }

  it('records what was sent, then moves forward with each status, never back', async () => {
    const sent = await client().send('15551230001', { type: 'text', text: 'Your ride is here' });
    await logOutboundMessage(database.db, sent, {
      to: '15551230001',
      phoneNumberId: 'PNID-1',
      message: { type: 'text', text: 'Your ride is here' },
    });
    expect(await logOf(sent.messageId)).toMatchObject({
      direction: 'outbound',
      status: 'accepted',
      message_type: 'text',
      body: 'Your ride is here',
    });
    // read arrives before delivered: delivered must not move it back.
    await deliverStatuses(
      statusNotification(sent.messageId, 'sent', 1_700_000_001),
      statusNotification(sent.messageId, 'read', 1_700_000_003),
      statusNotification(sent.messageId, 'delivered', 1_700_000_002),
    );
    const row = await logOf(sent.messageId);
    expect(row).toMatchObject({ status: 'read' });
    expect(new Date(row!.status_at as string).toISOString()).toBe('2023-11-14T22:13:23.000Z');
  });

  it('keeps a status that came before the send was recorded, and fills the row in', async () => {
    await deliverStatuses(statusNotification('wamid.EARLY', 'delivered', 1_700_000_010));
    expect(await logOf('wamid.EARLY')).toMatchObject({
      direction: 'outbound',
      status: 'delivered',
      body: null,
      contact_phone: '15551230001',
    });
    await logOutboundMessage(
      database.db,
      { messageId: 'wamid.EARLY', waId: '15551230001' },
      { to: '15551230001', phoneNumberId: 'PNID-1', message: MENU },
    );
    expect(await logOf('wamid.EARLY')).toMatchObject({
      status: 'delivered',
      message_type: 'list',
      body: 'What would you like to do?',
    });
  });

  it("records a failure with Meta's error, and nothing moves a failed message", async () => {
    await deliverStatuses(
      statusNotification('wamid.F', 'sent', 1_700_000_020),
      statusNotification('wamid.F', 'failed', 1_700_000_021, [
        { code: 131026, title: 'Message undeliverable' },
      ]),
      statusNotification('wamid.F', 'delivered', 1_700_000_022),
    );
    expect(await logOf('wamid.F')).toMatchObject({
      status: 'failed',
      error_code: 131026,
      error_title: 'Message undeliverable',
    });
  });
});
