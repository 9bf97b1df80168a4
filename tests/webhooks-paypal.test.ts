/**
 * PayPal intake end to end: a delivery signed the way PayPal signs it, its certificate
 * served by a local stand-in for PayPal's certificate host, through the webhooks app into
 * a real database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { PAYPAL_HEADERS } from '../functions/_shared/webhooks/paypal/verify.ts';
import {
  type PayPalCertServer,
  startPayPalCertServer,
} from './support/webhooks/paypal-cert-server.ts';
import {
  createPayPalTestCertificate,
  type PayPalTestCertificate,
  signPayPalDelivery,
} from '../cli/sandbox/paypal-signer.ts';
import { createWebhooksApp } from '../functions/webhooks/index.ts';
import type { IntakeCounters } from '../functions/webhooks/counters.ts';
import { countedIntake } from './support/intake-counters.ts';
import type { TestDatabase } from './support/database.ts';
import { capturedLogger } from './support/logs.ts';
import { createMigratedDatabase } from './support/migrated.ts';

const WEBHOOK_ID = '8PT597110X687430LKGECATA';
const ROTATED_WEBHOOK_ID = '1JE4291016473214C';
const CERT_PATH = '/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77';

let database: TestDatabase;
let server: PayPalCertServer;
let certificate: PayPalTestCertificate;

beforeAll(async () => {
  [database, server, certificate] = await Promise.all([
    createMigratedDatabase(),
    startPayPalCertServer(),
    createPayPalTestCertificate(),
  ]);
});
afterAll(async () => {
  await Promise.all([database.drop(), server.close()]);
});

function app(env: Record<string, string> = {}, counters?: IntakeCounters) {
  return createWebhooksApp({
    config: parseConfig({ PAYPAL_WEBHOOK_ID: `${WEBHOOK_ID},${ROTATED_WEBHOOK_ID}`, ...env }),
    db: database.db,
    logger: capturedLogger().logger,
    clock: systemClock,
    // Certificates come from the stand-in; any URL off PayPal's hosts throws.
    fetch: server.fetch as typeof fetch,
    background: () => {},
    counters,
  });
}

let nextPath = 0;
/** A fresh certificate path per test, so request counts never mix between tests. */
function serveCertificate(pem = certificate.pem): string {
  const path = `${CERT_PATH}-${nextPath += 1}`;
  server.serve(path, { body: pem });
  return path;
}

function event(id: string) {
  return JSON.stringify({
    id,
    event_version: '1.0',
    create_time: new Date().toISOString(),
    resource_type: 'sale',
    event_type: 'PAYMENT.SALE.COMPLETED',
    summary: 'Payment completed for $ 7.47 USD',
    resource: { id: '80021663DE681814L', state: 'completed', amount: { total: '7.47' } },
  });
}

function uniqueId() {
  return `WH-${crypto.randomUUID().replaceAll('-', '').slice(0, 17).toUpperCase()}`;
}

function signed(
  body: string,
  options: { certUrl?: string; webhookId?: string; privateKey?: CryptoKey } = {},
) {
  return signPayPalDelivery({
    privateKey: options.privateKey ?? certificate.privateKey,
    body,
    webhookId: options.webhookId ?? WEBHOOK_ID,
    certUrl: options.certUrl ?? `https://api.paypal.com${serveCertificate()}`,
  });
}

function post(subject: ReturnType<typeof app>, body: string, headers: Record<string, string>) {
  return subject.request('/webhooks/paypal', { method: 'POST', body, headers });
}

async function storedFor(id: string) {
  const [row] = await database.db.query<{ events: number; jobs: number }>(
    `select (select count(*) from inbound_events where provider = 'paypal' and event_key = $1)::int as events,
            (select count(*) from jobs where dedupe_key = 'inbound:paypal:' || $1)::int as jobs`,
    [id],
  );
  return row!;
}

describe('PayPal intake', () => {
  it('stores a verified event keyed by its id, with one job, before answering 200', async () => {
    const id = uniqueId();
    const body = event(id);
    const res = await post(app(), body, await signed(body));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'accepted' });
    expect(await storedFor(id)).toEqual({ events: 1, jobs: 1 });
    const [row] = await database.db.query<Record<string, unknown>>(
      `select e.event_type, e.status, e.payload #>> '{resource,id}' as resource, e.request_id,
              j.queue, j.kind
         from inbound_events e join jobs j on (j.payload->>'inbound_event_id')::bigint = e.id
        where e.provider = 'paypal' and e.event_key = $1`,
      [id],
    );
    expect(row).toEqual({
      event_type: 'PAYMENT.SALE.COMPLETED',
      status: 'accepted',
      resource: '80021663DE681814L',
      request_id: res.headers.get('x-request-id'),
      queue: 'paypal',
      kind: 'paypal.event',
    });
  });

  it('answers a redelivery 200 duplicate and creates no new job', async () => {
    const id = uniqueId();
    const body = event(id);
    const subject = app();
    const certUrl = `https://api.paypal.com${serveCertificate()}`;
    expect(await (await post(subject, body, await signed(body, { certUrl }))).json())
      .toEqual({ status: 'accepted' });
    // PayPal retries with a new transmission id and signature over the same event.
    const again = await post(subject, body, await signed(body, { certUrl }));
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ status: 'duplicate' });
    expect(await storedFor(id)).toEqual({ events: 1, jobs: 1 });
  });

  it('fetches a certificate once and reuses it for later deliveries', async () => {
    const subject = app();
    const path = serveCertificate();
    for (const id of [uniqueId(), uniqueId(), uniqueId()]) {
      const body = event(id);
      const res = await post(
        subject,
        body,
        await signed(body, { certUrl: `https://api.paypal.com${path}` }),
      );
      expect(res.status).toBe(200);
    }
    expect(server.requestCount(path)).toBe(1);
  });

  it('accepts a delivery for the second of two webhook ids (rotation)', async () => {
    const id = uniqueId();
    const body = event(id);
    const res = await post(app(), body, await signed(body, { webhookId: ROTATED_WEBHOOK_ID }));
    expect(res.status).toBe(200);
    expect(await storedFor(id)).toEqual({ events: 1, jobs: 1 });
  });
});

describe('refused PayPal deliveries store nothing', () => {
  async function expectRefused(
    body: string,
    headers: Record<string, string>,
    reason: string,
    subject = app,
  ) {
    const id = (JSON.parse(body) as { id: string }).id;
    const { counters, counts } = countedIntake();
    const res = await post(subject({}, counters), body, headers);
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    // The caller learns nothing about why.
    expect((await res.json()).detail).toBe('signature verification failed');
    expect(counts()).toEqual({
      'gatehouse_webhook_requests_total{provider="paypal"}': 1,
      [`gatehouse_webhook_rejected_total{provider="paypal",reason="${reason}"}`]: 1,
    });
    expect(await storedFor(id)).toEqual({ events: 0, jobs: 0 });
  }

  it('refuses a body changed after signing', async () => {
    const id = uniqueId();
    const headers = await signed(event(id));
    await expectRefused(
      event(id).replace('7.47', '747.00'),
      headers,
      'signature_mismatch',
    );
  });

  it('refuses a signature by a key other than the certificate’s', async () => {
    const other = await createPayPalTestCertificate();
    const body = event(uniqueId());
    await expectRefused(
      body,
      await signed(body, { privateKey: other.privateKey }),
      'signature_mismatch',
    );
  });

  it('refuses a delivery signed for another webhook id', async () => {
    const body = event(uniqueId());
    await expectRefused(
      body,
      await signed(body, { webhookId: 'WH-SOMEONE-ELSE' }),
      'signature_mismatch',
    );
  });

  it('refuses a delivery with no transmission signature', async () => {
    const body = event(uniqueId());
    const headers = await signed(body);
    delete headers[PAYPAL_HEADERS.transmissionSig];
    await expectRefused(body, headers, 'missing_header');
  });

  it('refuses a certificate URL off the allowed hosts without fetching it', async () => {
    const body = event(uniqueId());
    await expectRefused(
      body,
      await signed(body, { certUrl: `https://api.paypal.com.attacker.example${CERT_PATH}` }),
      'certificate_untrusted',
    );
  });

  it('refuses a PayPal host that PAYPAL_CERT_HOSTS leaves out, never contacting it', async () => {
    const path = serveCertificate();
    const body = event(uniqueId());
    const headers = await signed(body, { certUrl: `https://api.sandbox.paypal.com${path}` });
    await expectRefused(
      body,
      headers,
      'certificate_untrusted',
      (env, counters) => app({ ...env, PAYPAL_CERT_HOSTS: 'api.paypal.com' }, counters),
    );
    expect(server.requestCount(path)).toBe(0);
  });

  it('refuses when the certificate cannot be fetched', async () => {
    const path = `${CERT_PATH}-missing-${nextPath += 1}`;
    server.serve(path, { status: 404, body: 'not found' });
    const body = event(uniqueId());
    await expectRefused(
      body,
      await signed(body, { certUrl: `https://api.paypal.com${path}` }),
      'certificate_unavailable',
    );
  });

  it('refuses a delivery signed with an expired certificate', async () => {
    const expired = await createPayPalTestCertificate({
      notBefore: new Date(Date.now() - 400 * 24 * 3600 * 1000),
      notAfter: new Date(Date.now() - 24 * 3600 * 1000),
    });
    const body = event(uniqueId());
    await expectRefused(
      body,
      await signed(body, {
        privateKey: expired.privateKey,
        certUrl: `https://api.paypal.com${serveCertificate(expired.pem)}`,
      }),
      'certificate_expired',
    );
  });

  it('refuses everything while PAYPAL_WEBHOOK_ID is unset (fail closed)', async () => {
    const body = event(uniqueId());
    const { counters, counts } = countedIntake();
    const subject = createWebhooksApp({
      config: parseConfig({}),
      db: database.db,
      logger: capturedLogger().logger,
      clock: systemClock,
      fetch: server.fetch as typeof fetch,
      counters,
    });
    const res = await post(subject, body, await signed(body));
    expect(res.status).toBe(401);
    expect(counts()).toEqual({
      'gatehouse_webhook_requests_total{provider="paypal"}': 1,
      'gatehouse_webhook_rejected_total{provider="paypal",reason="no_secret_configured"}': 1,
    });
  });
});
