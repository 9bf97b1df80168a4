/**
 * Property-based fuzzing of the intake edge: whatever headers and bodies arrive, the
 * answer is never a 5xx, and nothing is stored unless the delivery was validly signed and
 * well-formed.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { signStandard, signStripe, signWhatsApp } from './support/webhooks/index.ts';
import { createWebhooksApp } from '../functions/webhooks/index.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const SECRET = 'fuzz-app-secret';
const STRIPE = 'whsec_fuzz';
const STANDARD = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const config = parseConfig({
  WHATSAPP_APP_SECRET: SECRET,
  STRIPE_WEBHOOK_SECRET: STRIPE,
  WEBHOOK_SECRET_FUZZ: STANDARD,
  PAYPAL_WEBHOOK_ID: 'WH-FUZZ',
});

const database = useMigratedDatabase();
let app: ReturnType<typeof createWebhooksApp>;

beforeAll(() => {
  app = createWebhooksApp({
    config,
    db: database.db,
    logger: capturedLogger().logger,
    clock: systemClock,
    // PayPal deliveries must never reach a network: any certificate fetch fails.
    fetch: () => Promise.reject(new Error('no network in fuzz tests')),
  });
});

async function storedEvents(): Promise<number> {
  const [row] = await database.db.query<{ n: number }>(
    'select count(*)::int as n from inbound_events',
  );
  return row!.n;
}

const route = fc.constantFrom(
  '/webhooks/whatsapp',
  '/webhooks/stripe',
  '/webhooks/paypal',
  '/webhooks/standard/fuzz',
  '/webhooks/standard/other',
);
const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/x-www-form-urlencoded',
  '',
);
const body = fc.oneof(
  fc.string(),
  fc.json(),
  fc.uint8Array({ maxLength: 512 }).map((bytes) => new TextDecoder().decode(bytes)),
  fc.constant(
    '{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{}}]}]}',
  ),
);
const headerValue = fc.oneof(
  fc.string(),
  fc.stringMatching(/^[0-9a-f]{0,64}$/),
  fc.constant('sha256='),
  fc.constant('t=1,v1=00'),
);
const junkHeaders = fc.dictionary(
  fc.constantFrom(
    'x-hub-signature-256',
    'stripe-signature',
    'webhook-id',
    'webhook-timestamp',
    'webhook-signature',
    'paypal-transmission-id',
    'paypal-transmission-time',
    'paypal-transmission-sig',
    'paypal-cert-url',
    'paypal-auth-algo',
    'x-request-id',
  ),
  headerValue,
);

describe('webhook intake under fuzzing', () => {
  it('never answers 5xx and stores nothing for unsigned or badly signed input', async () => {
    const before = await storedEvents();
    await fc.assert(
      fc.asyncProperty(route, contentType, body, junkHeaders, async (path, type, text, headers) => {
        const res = await app.request(path, {
          method: 'POST',
          body: text,
          headers: { ...headers, ...(type ? { 'content-type': type } : {}) },
        });
        expect(res.status).toBeLessThan(500);
        expect([400, 401, 413, 415]).toContain(res.status);
      }),
      { numRuns: 300 },
    );
    expect(await storedEvents()).toBe(before);
  });

  it('never answers 5xx for validly signed arbitrary bodies; only well-formed ones are stored', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('whatsapp', 'stripe', 'standard'),
        body,
        async (provider, text) => {
          const before = await storedEvents();
          const now = Math.floor(Date.now() / 1000);
          const signed = provider === 'whatsapp'
            ? signWhatsApp(text, SECRET)
            : provider === 'stripe'
            ? signStripe(text, STRIPE, now)
            : signStandard(`msg_${crypto.randomUUID()}`, now, text, STANDARD);
          const path = provider === 'standard'
            ? '/webhooks/standard/fuzz'
            : `/webhooks/${provider}`;
          const res = await app.request(path, {
            method: 'POST',
            body: text,
            headers: { 'content-type': 'application/json', ...signed },
          });
          expect(res.status).toBeLessThan(500);
          if (res.status !== 200) {
            // 400 for a body that is not the provider's shape; Stripe's library refuses an
            // empty payload as a signature failure (401). Either way nothing is stored.
            expect([400, 401]).toContain(res.status);
            expect(await storedEvents()).toBe(before);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
