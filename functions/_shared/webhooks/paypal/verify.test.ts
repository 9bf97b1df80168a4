import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createPayPalVerifier,
  PAYPAL_HEADERS,
  type PayPalVerifierOptions,
  TRANSMISSION_TOLERANCE_MS,
} from './verify.ts';
import {
  createPayPalTestFetch,
  type PayPalCertServer,
  startPayPalCertServer,
} from '../../../../tests/support/webhooks/paypal-cert-server.ts';
import {
  createPayPalTestCertificate,
  type PayPalTestCertificate,
  signPayPalDelivery,
} from '../../../../cli/sandbox/paypal-signer.ts';
import { signatureFailure } from '../../../../tests/support/webhooks/index.ts';
import { fromBase64, toBase64 } from '../signing.ts';
import type { SignatureFailure } from '../types.ts';

const WEBHOOK_ID = '8PT597110X687430LKGECATA';
const CERT_HOSTS = ['api.paypal.com', 'api.sandbox.paypal.com'];
const CERT_PATH = '/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77';
const BODY =
  '{"id":"WH-9UG43882HX7271132-6E0871324L7949614","event_type":"PAYMENT.SALE.COMPLETED"}';
const MINUTE_MS = 60 * 1000;
const DAY_MS = 24 * 60 * MINUTE_MS;

const hasOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

let server: PayPalCertServer;
let certificate: PayPalTestCertificate;
let nowMs: number;

beforeAll(async () => {
  server = await startPayPalCertServer();
  certificate = await createPayPalTestCertificate();
});
afterAll(() => server.close());

let nextPath = 0;
/** A fresh cert path per test, so request counts never mix between tests. */
function serveCertificate(pem = certificate.pem): string {
  const path = `${CERT_PATH}-${nextPath += 1}`;
  server.serve(path, { body: pem });
  return path;
}

beforeEach(() => {
  // PayPal's transmission time has whole seconds; a whole-second clock keeps boundaries exact.
  nowMs = Math.floor(Date.now() / 1000) * 1000;
});

function verifier(overrides: Partial<PayPalVerifierOptions> = {}) {
  return createPayPalVerifier({
    webhookIds: [WEBHOOK_ID],
    certHosts: CERT_HOSTS,
    fetch: server.fetch,
    now: () => nowMs,
    ...overrides,
  });
}

async function delivery(overrides: {
  path?: string;
  certUrl?: string;
  webhookId?: string;
  body?: string;
  privateKey?: CryptoKey;
  transmissionTime?: Date;
} = {}) {
  const path = overrides.path ?? serveCertificate();
  const body = overrides.body ?? BODY;
  const headers = await signPayPalDelivery({
    privateKey: overrides.privateKey ?? certificate.privateKey,
    body,
    webhookId: overrides.webhookId ?? WEBHOOK_ID,
    certUrl: overrides.certUrl ?? `https://api.sandbox.paypal.com${path}`,
    transmissionTime: overrides.transmissionTime ?? new Date(nowMs),
  });
  return { path, body: new TextEncoder().encode(body), headers: new Headers(headers) };
}

async function expectReason(verification: Promise<unknown>, reason: SignatureFailure) {
  expect(await signatureFailure(() => verification)).toBe(reason);
}

describe('PayPal verifier: signatures', () => {
  it('accepts a delivery signed with the key of the certificate at paypal-cert-url', async () => {
    const { body, headers } = await delivery();
    await expect(verifier().verify(body, headers)).resolves.toBeUndefined();
  });

  it('refuses a body with one byte flipped', async () => {
    const { body, headers } = await delivery();
    body[10]! ^= 0x01;
    await expectReason(verifier().verify(body, headers), 'signature_mismatch');
  });

  it('refuses a delivery signed for another webhook id', async () => {
    const { body, headers } = await delivery({ webhookId: 'SOMEONE-ELSES-WEBHOOK' });
    await expectReason(verifier().verify(body, headers), 'signature_mismatch');
  });

  it('accepts any one of several configured webhook ids (rotation)', async () => {
    const rotating = verifier({ webhookIds: ['OLD0WEBHOOK', WEBHOOK_ID] });
    const path = serveCertificate();
    for (const webhookId of ['OLD0WEBHOOK', WEBHOOK_ID]) {
      const { body, headers } = await delivery({ path, webhookId });
      await expect(rotating.verify(body, headers)).resolves.toBeUndefined();
    }
  });

  it('refuses a tampered signature', async () => {
    const { body, headers } = await delivery();
    const signature = fromBase64(headers.get(PAYPAL_HEADERS.transmissionSig)!);
    signature[signature.length - 1]! ^= 0xff;
    headers.set(PAYPAL_HEADERS.transmissionSig, toBase64(signature));
    await expectReason(verifier().verify(body, headers), 'signature_mismatch');
  });

  it('refuses a well-formed signature of the wrong length', async () => {
    const { body, headers } = await delivery();
    headers.set(PAYPAL_HEADERS.transmissionSig, 'AAAA');
    await expectReason(verifier().verify(body, headers), 'signature_mismatch');
  });

  it('refuses a signature made with a key other than the certificate’s', async () => {
    const other = await createPayPalTestCertificate();
    const { body, headers } = await delivery({ privateKey: other.privateKey });
    await expectReason(verifier().verify(body, headers), 'signature_mismatch');
  });

  it('refuses every delivery when no webhook id is configured', async () => {
    const { body, headers } = await delivery();
    await expectReason(verifier({ webhookIds: [] }).verify(body, headers), 'no_secret_configured');
  });

  it('uses the first certificate when the URL serves a chain', async () => {
    const issuer = await createPayPalTestCertificate({ commonName: 'issuer' });
    const { body, headers } = await delivery({
      path: serveCertificate(certificate.pem + issuer.pem),
    });
    await expect(verifier().verify(body, headers)).resolves.toBeUndefined();
  });
});

describe('PayPal verifier: headers', () => {
  it.each(Object.values(PAYPAL_HEADERS))('refuses a delivery without %s', async (name) => {
    const { body, headers } = await delivery();
    headers.delete(name);
    await expectReason(verifier().verify(body, headers), 'missing_header');
  });

  it.each([
    [PAYPAL_HEADERS.authAlgo, 'SHA1withRSA'],
    [PAYPAL_HEADERS.transmissionTime, 'yesterday'],
    [PAYPAL_HEADERS.transmissionTime, '2024-01-01 10:00:00'],
    [PAYPAL_HEADERS.transmissionSig, 'not base64!'],
    [PAYPAL_HEADERS.transmissionSig, 'AQI'],
    [PAYPAL_HEADERS.certUrl, 'not a url'],
  ])('refuses %s = %j as malformed', async (name, value) => {
    const { body, headers } = await delivery();
    headers.set(name, value);
    await expectReason(verifier().verify(body, headers), 'malformed_header');
  });

  it('accepts transmission times up to the tolerance either side', async () => {
    const path = serveCertificate();
    for (const offset of [-TRANSMISSION_TOLERANCE_MS, TRANSMISSION_TOLERANCE_MS]) {
      const { body, headers } = await delivery({
        path,
        transmissionTime: new Date(nowMs + offset),
      });
      await expect(verifier().verify(body, headers)).resolves.toBeUndefined();
    }
  });

  it('refuses a stale transmission time without fetching the certificate', async () => {
    const { path, body, headers } = await delivery({
      transmissionTime: new Date(nowMs - TRANSMISSION_TOLERANCE_MS - 1_000),
    });
    await expectReason(verifier().verify(body, headers), 'timestamp_too_old');
    expect(server.requestCount(path)).toBe(0);
  });

  it('refuses a transmission time in the future', async () => {
    const { body, headers } = await delivery({
      transmissionTime: new Date(nowMs + TRANSMISSION_TOLERANCE_MS + 1_000),
    });
    await expectReason(verifier().verify(body, headers), 'timestamp_in_future');
  });
});

describe('PayPal verifier: certificate URL', () => {
  it.each([
    'https://api.paypal.com.evil.io/v1/notifications/certs/CERT-1',
    'https://evil.io/api.paypal.com/v1/notifications/certs/CERT-1',
    'https://api.paypal.com@evil.io/v1/notifications/certs/CERT-1',
    'https://user:secret@api.paypal.com/v1/notifications/certs/CERT-1',
    'https://api.paypal.com:8443/v1/notifications/certs/CERT-1',
    'http://api.paypal.com/v1/notifications/certs/CERT-1',
    'https://evilapi.paypal.com/v1/notifications/certs/CERT-1',
    'https://paypal.com/v1/notifications/certs/CERT-1',
    'https://api.paypal.com./v1/notifications/certs/CERT-1',
    'https://127.0.0.1/v1/notifications/certs/CERT-1',
    'file:///etc/passwd',
  ])('refuses %s before fetching anything', async (certUrl) => {
    const fetched: string[] = [];
    const { body, headers } = await delivery({ certUrl });
    const watched = verifier({
      fetch: (url, init) => {
        fetched.push(url);
        return server.fetch(url, init);
      },
    });
    await expectReason(watched.verify(body, headers), 'certificate_untrusted');
    expect(fetched).toEqual([]);
  });

  it('accepts an allowed host in any letter case and with an explicit :443', async () => {
    const path = serveCertificate();
    const { body, headers } = await delivery({
      path,
      certUrl: `https://API.Sandbox.PayPal.com:443${path}`,
    });
    await expect(verifier().verify(body, headers)).resolves.toBeUndefined();
    expect(server.requestCount(path)).toBe(1);
  });

  it('refuses a certHosts entry that is not a bare hostname', () => {
    for (
      const certHosts of [[], ['https://api.paypal.com'], ['api.paypal.com/'], [
        'api.paypal.com:443',
      ]]
    ) {
      expect(() => verifier({ certHosts })).toThrow(TypeError);
    }
  });
});

describe('PayPal verifier: certificate', () => {
  it('refuses an expired certificate', async () => {
    const expired = await createPayPalTestCertificate({
      notBefore: new Date(nowMs - 30 * DAY_MS),
      notAfter: new Date(nowMs - DAY_MS),
    });
    const { body, headers } = await delivery({
      path: serveCertificate(expired.pem),
      privateKey: expired.privateKey,
    });
    await expectReason(verifier().verify(body, headers), 'certificate_expired');
  });

  it('refuses a certificate that is not valid yet', async () => {
    const early = await createPayPalTestCertificate({ notBefore: new Date(nowMs + DAY_MS) });
    const { body, headers } = await delivery({
      path: serveCertificate(early.pem),
      privateKey: early.privateKey,
    });
    await expectReason(verifier().verify(body, headers), 'certificate_expired');
  });

  it.each([
    ['answers 500', { status: 500, body: 'oops' }],
    ['answers 404', { status: 404, body: '' }],
    ['redirects', { status: 302, headers: { location: 'https://evil.io/cert.pem' } }],
    ['serves something that is not a certificate', { body: '<html>maintenance</html>' }],
    ['serves more than the size cap', { body: 'A'.repeat(100 * 1024) }],
  ])('reports certificate_unavailable when the host %s', async (_, response) => {
    const path = `${CERT_PATH}-unavailable-${nextPath += 1}`;
    server.serve(path, response);
    const { body, headers } = await delivery({ path });
    await expectReason(verifier().verify(body, headers), 'certificate_unavailable');
  });

  it('reports certificate_unavailable when nothing listens on the port', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const { body, headers } = await delivery();
    const unreachable = verifier({ fetch: createPayPalTestFetch(`http://127.0.0.1:${port}`) });
    await expectReason(unreachable.verify(body, headers), 'certificate_unavailable');
  });

  it('gives up on a host that does not answer in time', async () => {
    const path = `${CERT_PATH}-hang-${nextPath += 1}`;
    server.serve(path, { hang: true });
    const { body, headers } = await delivery({ path });
    const started = performance.now();
    await expectReason(
      verifier({ certFetchTimeoutMs: 200 }).verify(body, headers),
      'certificate_unavailable',
    );
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it.skipIf(!hasOpenssl)('refuses a certificate whose key is not RSA', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'paypal-ec-'));
    try {
      execFileSync('openssl', [
        'req',
        '-x509',
        '-nodes',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-keyout',
        join(dir, 'key.pem'),
        '-subj',
        '/CN=ec',
        '-days',
        '2',
        '-out',
        join(dir, 'cert.pem'),
      ], { stdio: 'ignore' });
      const { body, headers } = await delivery({
        path: serveCertificate(readFileSync(join(dir, 'cert.pem'), 'utf8')),
      });
      await expectReason(verifier().verify(body, headers), 'certificate_unavailable');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('PayPal verifier: certificate cache', () => {
  it('fetches a certificate once for two verifications', async () => {
    const shared = verifier();
    const path = serveCertificate();
    for (let round = 0; round < 2; round += 1) {
      const { body, headers } = await delivery({ path });
      await expect(shared.verify(body, headers)).resolves.toBeUndefined();
    }
    expect(server.requestCount(path)).toBe(1);
  });

  it('shares one fetch between concurrent verifications', async () => {
    const shared = verifier();
    const first = await delivery();
    const second = await delivery({ path: first.path });
    const release = server.hold();
    const both = Promise.all([
      shared.verify(first.body, first.headers),
      shared.verify(second.body, second.headers),
    ]);
    // Both verifications have reached the cache by the time the request is on the wire.
    await server.waitForRequests(1);
    release();
    await expect(both).resolves.toEqual([undefined, undefined]);
    expect(server.requestCount(first.path)).toBe(1);
  });

  it('fetches again once the cache TTL has passed', async () => {
    const shared = verifier({ cacheTtlMs: 10 * MINUTE_MS });
    const path = serveCertificate();
    for (const advance of [0, 9 * MINUTE_MS, 2 * MINUTE_MS]) {
      nowMs += advance;
      const { body, headers } = await delivery({ path });
      await expect(shared.verify(body, headers)).resolves.toBeUndefined();
    }
    expect(server.requestCount(path)).toBe(2);
  });

  it('does not keep a failed fetch: the next delivery tries again', async () => {
    const shared = verifier();
    const path = `${CERT_PATH}-flaky-${nextPath += 1}`;
    server.serve(path, { status: 503 });
    const first = await delivery({ path });
    await expectReason(shared.verify(first.body, first.headers), 'certificate_unavailable');
    server.serve(path, { body: certificate.pem });
    const second = await delivery({ path });
    await expect(shared.verify(second.body, second.headers)).resolves.toBeUndefined();
    expect(server.requestCount(path)).toBe(2);
  });

  it('stops trusting a cached certificate at its notAfter', async () => {
    const shortLived = await createPayPalTestCertificate({
      notAfter: new Date(nowMs + 3 * MINUTE_MS),
    });
    const shared = verifier();
    const path = serveCertificate(shortLived.pem);
    const first = await delivery({ path, privateKey: shortLived.privateKey });
    await expect(shared.verify(first.body, first.headers)).resolves.toBeUndefined();
    nowMs += 4 * MINUTE_MS;
    const second = await delivery({ path, privateKey: shortLived.privateKey });
    await expectReason(shared.verify(second.body, second.headers), 'certificate_expired');
  });
});
