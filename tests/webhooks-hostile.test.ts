/**
 * Hostile but validly signed deliveries, for every provider, through the real router into
 * a real database: over-long and odd-character keys, deep nesting, NUL and lone-surrogate
 * escapes, huge numbers, unknown WhatsApp change fields, a wrong `object`, empty entries.
 *
 * What a provider sees must be the truth: never a 5xx; 400 exactly when nothing was
 * stored; 200 `accepted` exactly when events were stored (counted in inbound_events and
 * jobs), as many as the delivery carries; unmodelled change fields stored too.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import {
  PAYPAL_EVENT_ID_MAX_CHARS,
  PAYPAL_EVENT_TYPE_MAX_CHARS,
} from '../functions/_shared/webhooks/paypal/extract.ts';
import {
  STANDARD_EVENT_TYPE_MAX_CHARS,
  STANDARD_WEBHOOK_ID_MAX_CHARS,
} from '../functions/_shared/webhooks/standard/extract.ts';
import {
  STRIPE_EVENT_ID_MAX_CHARS,
  STRIPE_EVENT_TYPE_MAX_CHARS,
} from '../functions/_shared/webhooks/stripe/extract.ts';
import {
  WHATSAPP_FIELD_MAX_CHARS,
  WHATSAPP_MESSAGE_ID_MAX_CHARS,
  WHATSAPP_SENDER_MAX_CHARS,
  WHATSAPP_STATUS_MAX_CHARS,
} from '../functions/_shared/webhooks/whatsapp/extract.ts';
import { signStandard, signStripe, signWhatsApp } from './support/webhooks/index.ts';
import {
  type PayPalCertServer,
  startPayPalCertServer,
} from './support/webhooks/paypal-cert-server.ts';
import {
  createPayPalTestCertificate,
  type PayPalTestCertificate,
  signPayPalDelivery,
} from '../cli/sandbox/paypal-signer.ts';
import { app as referenceApp } from '../functions/_app/index.ts';
import { createWebhooksApp } from '../functions/webhooks/index.ts';
import {
  anyPiece,
  delivered,
  extraValue,
  harmlessExtra,
  identifierPiece,
  type Piece,
  ussdCase,
} from './support/hostile.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const WHATSAPP_SECRET = 'hostile-app-secret';
const STRIPE_SECRET = 'whsec_hostile';
const STANDARD_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const PAYPAL_WEBHOOK_ID = 'WH-HOSTILE-1';
const USSD_TOKEN = 'hostile-ussd-token-0123456789';
const CERT_PATH = '/v1/notifications/certs/CERT-hostile';
const UNLIMITED = { capacity: 1_000_000, refillPerSecond: 1_000_000 };
const WHATSAPP_OBJECT = { value: 'whatsapp_business_account', refused: false };

const database = useMigratedDatabase();
let server: PayPalCertServer;
let certificate: PayPalTestCertificate;
let app: ReturnType<typeof createWebhooksApp>;

beforeAll(async () => {
  [server, certificate] = await Promise.all([
    startPayPalCertServer(),
    createPayPalTestCertificate(),
  ]);
  server.serve(CERT_PATH, { body: certificate.pem });
  app = createWebhooksApp({
    app: referenceApp,
    config: parseConfig({
      WHATSAPP_APP_SECRET: WHATSAPP_SECRET,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      WEBHOOK_SECRET_HOSTILE: STANDARD_SECRET,
      PAYPAL_WEBHOOK_ID,
      USSD_PATH_TOKEN: USSD_TOKEN,
    }),
    db: database.db,
    logger: capturedLogger().logger,
    clock: systemClock,
    fetch: server.fetch as typeof fetch,
    background: () => {},
    // No bucket runs dry however many runs there are: throttling is not under test.
    limits: { whatsappPerNumber: UNLIMITED, whatsappPerSender: UNLIMITED, perProvider: UNLIMITED },
  });
});
afterAll(async () => {
  await server?.close();
});

/** Rows in inbound_events and in jobs. */
async function counts(): Promise<{ events: number; jobs: number }> {
  const [row] = await database.db.query<{ events: number; jobs: number }>(
    `select (select count(*) from inbound_events)::int as events,
            (select count(*) from jobs)::int as jobs`,
  );
  return row!;
}

/**
 * Sends one delivery and checks what its sender sees against what was stored. `events` is
 * how many events a delivery the oracle accepts must store.
 */
async function expectTruthful(
  send: () => Response | Promise<Response>,
  expected: { refused: boolean; events: number },
): Promise<Response> {
  // Each run starts empty, so a value generated twice is never a duplicate of an earlier run.
  await database.db.exec('delete from jobs; delete from inbound_events;');
  const res = await send();
  const stored = await counts();
  expect(res.status).toBeLessThan(500);
  if (expected.refused) {
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(stored).toEqual({ events: 0, jobs: 0 });
  } else {
    expect(res.status).toBe(200);
    expect(stored).toEqual({ events: expected.events, jobs: expected.events });
  }
  return res;
}

async function expectAcceptedJson(res: Response, refused: boolean) {
  if (!refused) expect(await res.json()).toEqual({ status: 'accepted' });
}

/** Pieces refused when any one of them is. */
const refusedAny = (...pieces: Piece[]) => pieces.some((piece) => piece.refused);

const nowSeconds = () => Math.floor(Date.now() / 1000);

const postJson = (path: string, body: string, headers: Record<string, string>) =>
  app.request(path, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });

describe('validly signed hostile deliveries', () => {
  it('WhatsApp: 400 exactly when nothing is stored, 200 accepted for what is', async () => {
    // Half the deliveries are clean, half may hold anything: both answers get exercised.
    const delivery = fc.boolean().chain((clean) => {
      const piece = (max: number, prefix: string) => identifierPiece(max, prefix, { valid: clean });
      return fc.record({
        object: clean ? fc.constant(WHATSAPP_OBJECT) : fc.oneof(
          { weight: 4, arbitrary: fc.constant(WHATSAPP_OBJECT) },
          fc.constantFrom('page', 'instagram', 'WHATSAPP_BUSINESS_ACCOUNT', '')
            .map((value) => ({ value, refused: true })),
        ),
        emptyEntries: clean ? fc.constant(false) : fc.boolean(),
        messagesChange: fc.boolean(),
        messages: fc.array(
          fc.record({
            id: piece(WHATSAPP_MESSAGE_ID_MAX_CHARS, 'wamid.'),
            from: piece(WHATSAPP_SENDER_MAX_CHARS, '1555'),
          }),
          { maxLength: 3 },
        ),
        statuses: fc.array(
          fc.record({
            id: piece(WHATSAPP_MESSAGE_ID_MAX_CHARS, 'wamid.'),
            status: piece(WHATSAPP_STATUS_MAX_CHARS, 'read'),
          }),
          { maxLength: 2 },
        ),
        unknown: fc.array(
          piece(WHATSAPP_FIELD_MAX_CHARS, 'account_update')
            .filter((field) => field.value !== 'messages'),
          { maxLength: 2 },
        ),
        extra: clean ? harmlessExtra : extraValue,
      });
    });

    await fc.assert(
      fc.asyncProperty(delivery, async (d) => {
        const changes = [
          // Distinct values, so two changes of one field are two events.
          ...d.unknown.map((field, note) => ({ field: field.value, value: { note } })),
          ...(d.messagesChange
            ? [{
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { phone_number_id: 'PNID-HOSTILE' },
                messages: d.messages.map((m) => ({
                  id: m.id.value,
                  from: m.from.value,
                  type: 'text',
                  text: { body: 'hi' },
                })),
                statuses: d.statuses.map((s) => ({ id: s.id.value, status: s.status.value })),
              },
            }]
            : []),
        ];
        const body = delivered({
          object: d.object.value,
          entry: d.emptyEntries ? [] : [{ id: 'WABA-1', changes }],
        }, d.extra);
        const pieces = [
          d.object,
          d.extra,
          ...d.unknown,
          ...(d.messagesChange ? d.messages.flatMap((m) => [m.id, m.from]) : []),
          ...(d.messagesChange ? d.statuses.flatMap((s) => [s.id, s.status]) : []),
        ];
        // One event per distinct key: a generated id may repeat within a delivery.
        const keys = new Set<string>(d.unknown.map((_, i) => `unknown:${i}`));
        if (d.messagesChange) {
          for (const m of d.messages) keys.add(m.id.value);
          for (const s of d.statuses) keys.add(`${s.id.value}:${s.status.value}`);
          if (d.messages.length + d.statuses.length === 0) keys.add('messages:change');
        }
        const events = keys.size;
        const refused = refusedAny(...pieces) || d.emptyEntries || events === 0;
        const res = await expectTruthful(
          () => postJson('/webhooks/whatsapp', body, signWhatsApp(body, WHATSAPP_SECRET)),
          { refused, events },
        );
        await expectAcceptedJson(res, refused);
        if (!refused) {
          // Unmodelled change fields are stored, under their own field as the type.
          for (const field of d.unknown) {
            const [row] = await database.db.query<{ n: number }>(
              `select count(*)::int as n from inbound_events
                where provider = 'whatsapp' and event_type = $1 and request_id = $2`,
              [field.value, res.headers.get('x-request-id')],
            );
            expect(row!.n).toBeGreaterThanOrEqual(1);
          }
        }
      }),
      { numRuns: 80 },
    );
  });

  it('Stripe: 400 exactly when nothing is stored', async () => {
    const event = fc.record({
      id: identifierPiece(STRIPE_EVENT_ID_MAX_CHARS, 'evt_'),
      type: anyPiece(identifierPiece(STRIPE_EVENT_TYPE_MAX_CHARS, 'charge.succeeded')),
      extra: extraValue,
    });
    await fc.assert(
      fc.asyncProperty(event, async (e) => {
        const body = delivered({ id: e.id.value, object: 'event', type: e.type.value }, e.extra);
        const refused = refusedAny(e.id, e.type, e.extra);
        const res = await expectTruthful(
          () => postJson('/webhooks/stripe', body, signStripe(body, STRIPE_SECRET, nowSeconds())),
          { refused, events: 1 },
        );
        await expectAcceptedJson(res, refused);
      }),
      { numRuns: 50 },
    );
  });

  it('PayPal: 400 exactly when nothing is stored', async () => {
    const event = fc.record({
      id: identifierPiece(PAYPAL_EVENT_ID_MAX_CHARS, 'WH-'),
      type: anyPiece(identifierPiece(PAYPAL_EVENT_TYPE_MAX_CHARS, 'PAYMENT.SALE.COMPLETED')),
      extra: extraValue,
    });
    await fc.assert(
      fc.asyncProperty(event, async (e) => {
        const body = delivered({ id: e.id.value, event_type: e.type.value }, e.extra);
        const headers = await signPayPalDelivery({
          privateKey: certificate.privateKey,
          body,
          webhookId: PAYPAL_WEBHOOK_ID,
          certUrl: `https://api.paypal.com${CERT_PATH}`,
        });
        const refused = refusedAny(e.id, e.type, e.extra);
        const res = await expectTruthful(
          () => app.request('/webhooks/paypal', { method: 'POST', body, headers }),
          { refused, events: 1 },
        );
        await expectAcceptedJson(res, refused);
      }),
      { numRuns: 40 },
    );
  });

  it('Standard Webhooks: 400 exactly when nothing is stored, the webhook-id header included', async () => {
    const event = fc.record({
      // Header values cannot carry control characters or anything beyond Latin-1.
      id: identifierPiece(STANDARD_WEBHOOK_ID_MAX_CHARS, 'msg_', { header: true }),
      type: anyPiece(identifierPiece(STANDARD_EVENT_TYPE_MAX_CHARS, 'invoice.paid')),
      extra: extraValue,
    });
    await fc.assert(
      fc.asyncProperty(event, async (e) => {
        const body = delivered({ type: e.type.value, data: {} }, e.extra);
        const refused = refusedAny(e.id, e.type, e.extra);
        const res = await expectTruthful(
          () =>
            postJson(
              '/webhooks/standard/hostile',
              body,
              signStandard(e.id.value as string, nowSeconds(), body, STANDARD_SECRET),
            ),
          { refused, events: 1 },
        );
        await expectAcceptedJson(res, refused);
      }),
      { numRuns: 40 },
    );
  });

  it('USSD: 400 exactly when nothing is stored; a completed action is stored once', async () => {
    await fc.assert(
      fc.asyncProperty(ussdCase, async (u) => {
        const body = new URLSearchParams(u.form).toString();
        const res = await expectTruthful(
          () =>
            app.request(`/webhooks/ussd/${USSD_TOKEN}`, {
              method: 'POST',
              body,
              headers: { 'content-type': 'application/x-www-form-urlencoded' },
            }),
          { refused: u.refused, events: u.action ? 1 : 0 },
        );
        if (!u.refused) expect(await res.text()).toMatch(u.action ? /^END / : /^(CON|END) /);
      }),
      { numRuns: 60 },
    );
  });
});
