/**
 * PayPal webhook verification done locally, the "self-verification" of PayPal's
 * "Integrate webhooks" guide (developer.paypal.com/api/rest/webhooks/rest/), instead of a
 * round trip to their verify-webhook-signature API: PayPal signs
 * `<transmission id>|<transmission time>|<webhook id>|<crc32 of the raw body, decimal>`
 * with SHA256withRSA, using the key of the certificate named by `paypal-cert-url`.
 *
 * Trust rests on the certificate URL: it must be https on one of the configured PayPal
 * hosts, so TLS to that host vouches for the certificate. The certificate chain itself is
 * not walked.
 */
import { decodeBase64 } from './base64.ts';
import { type CertificateKey, createCertificateKeyCache } from './cert-cache.ts';
import { fetchCertificateText, type FetchLike } from './cert-fetch.ts';
import { parseCertificatePem } from './certificate.ts';
import { crc32 } from './crc32.ts';
import { type HeaderSource, SignatureError } from '../types.ts';

export type { FetchLike } from './cert-fetch.ts';

/** The transmission headers PayPal sends with every delivery (lower case, as HTTP/2 has them). */
export const PAYPAL_HEADERS = {
  transmissionId: 'paypal-transmission-id',
  transmissionTime: 'paypal-transmission-time',
  transmissionSig: 'paypal-transmission-sig',
  certUrl: 'paypal-cert-url',
  authAlgo: 'paypal-auth-algo',
} as const;

/** The only `paypal-auth-algo` PayPal uses: RSASSA-PKCS1-v1_5 with SHA-256. */
export const PAYPAL_AUTH_ALGO = 'SHA256withRSA';

/** How far a transmission time may be from our clock, either way. */
export const TRANSMISSION_TOLERANCE_MS = 5 * 60 * 1000;
export const DEFAULT_CERT_CACHE_TTL_MS = 60 * 60 * 1000;
export const DEFAULT_CERT_FETCH_TIMEOUT_MS = 5 * 1000;
/** PayPal's PEM (certificate plus issuers) is a few KiB; anything far larger is not it. */
export const MAX_CERT_BYTES = 64 * 1024;
export const MAX_CACHED_CERTS = 32;

export interface PayPalVerifierOptions {
  /** Webhook ids from the PayPal dashboard; any one verifies (rotation). None: fail closed. */
  webhookIds: readonly string[];
  /** Hostnames the certificate may come from, e.g. `api.paypal.com`; exact match. */
  certHosts: readonly string[];
  fetch: FetchLike;
  /** Epoch milliseconds. */
  now: () => number;
  cacheTtlMs?: number;
  certFetchTimeoutMs?: number;
}

export interface PayPalVerifier {
  /** Resolves when the delivery is PayPal's and meant for us; throws `SignatureError` otherwise. */
  verify(rawBody: Uint8Array, headers: HeaderSource): Promise<void>;
}

const RSA_PKCS1_SHA256 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

// RFC 3339 date-time ("Internet date and time format", as PayPal documents the header).
const RFC3339_DATE_TIME =
  /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

// A bare hostname: no scheme, port, path or userinfo can hide in a configured host.
const HOSTNAME = /^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/;

/**
 * Builds a PayPal verifier. Options are checked once here; `verify` runs per delivery.
 *
 * @example
 * ```ts
 * const paypal = createPayPalVerifier({
 *   webhookIds: config.paypalWebhookIds,
 *   certHosts: ['api.paypal.com', 'api.sandbox.paypal.com'],
 *   fetch,
 *   now: () => Date.now(),
 * });
 * await paypal.verify(rawBody, c.req.raw.headers); // throws SignatureError
 * ```
 */
export function createPayPalVerifier(options: PayPalVerifierOptions): PayPalVerifier {
  const webhookIds = options.webhookIds.filter((id) => id.length > 0);
  const certHosts = new Set(options.certHosts.map((host) => host.trim().toLowerCase()));
  for (const host of certHosts) {
    if (!HOSTNAME.test(host)) throw new TypeError(`certHosts: "${host}" is not a bare hostname`);
  }
  if (certHosts.size === 0) throw new TypeError('certHosts: name at least one host');
  const { fetch, now } = options;
  const timeoutMs = options.certFetchTimeoutMs ?? DEFAULT_CERT_FETCH_TIMEOUT_MS;

  const certificates = createCertificateKeyCache({
    now,
    ttlMs: options.cacheTtlMs ?? DEFAULT_CERT_CACHE_TTL_MS,
    maxEntries: MAX_CACHED_CERTS,
    load: async (url) => {
      try {
        const pem = await fetchCertificateText(fetch, url, { timeoutMs, maxBytes: MAX_CERT_BYTES });
        return await importCertificate(pem);
      } catch (error) {
        throw new SignatureError('certificate_unavailable', `${url}: ${(error as Error).message}`);
      }
    },
  });

  return {
    async verify(rawBody, headers) {
      if (webhookIds.length === 0) throw new SignatureError('no_secret_configured');
      const transmissionId = requireHeader(headers, PAYPAL_HEADERS.transmissionId);
      const transmissionTime = requireHeader(headers, PAYPAL_HEADERS.transmissionTime);
      const transmissionSig = requireHeader(headers, PAYPAL_HEADERS.transmissionSig);
      const certUrl = requireHeader(headers, PAYPAL_HEADERS.certUrl);
      const authAlgo = requireHeader(headers, PAYPAL_HEADERS.authAlgo);

      if (authAlgo !== PAYPAL_AUTH_ALGO) {
        throw new SignatureError('malformed_header', `unsupported auth algo ${authAlgo}`);
      }
      checkTransmissionTime(transmissionTime, now());
      const signature = decodeSignature(transmissionSig);
      // Trust is decided before any network traffic: an untrusted URL is never fetched.
      const trustedUrl = trustedCertificateUrl(certUrl, certHosts);

      const certificate = await certificates.get(trustedUrl);
      const at = now();
      if (at < certificate.notBeforeMs || at > certificate.notAfterMs) {
        throw new SignatureError('certificate_expired', trustedUrl);
      }

      const bodyCrc = crc32(rawBody);
      for (const webhookId of webhookIds) {
        const message = `${transmissionId}|${transmissionTime}|${webhookId}|${bodyCrc}`;
        const valid = await crypto.subtle.verify(
          RSA_PKCS1_SHA256,
          certificate.publicKey,
          signature as BufferSource,
          new TextEncoder().encode(message) as BufferSource,
        );
        if (valid) return;
      }
      throw new SignatureError('signature_mismatch');
    },
  };
}

function requireHeader(headers: HeaderSource, name: string): string {
  const value = headers.get(name)?.trim();
  if (!value) throw new SignatureError('missing_header', name);
  return value;
}

function checkTransmissionTime(header: string, nowMs: number): void {
  const sentMs = RFC3339_DATE_TIME.test(header) ? Date.parse(header) : Number.NaN;
  if (Number.isNaN(sentMs)) {
    throw new SignatureError(
      'malformed_header',
      `${PAYPAL_HEADERS.transmissionTime} is not RFC 3339`,
    );
  }
  if (nowMs - sentMs > TRANSMISSION_TOLERANCE_MS) throw new SignatureError('timestamp_too_old');
  if (sentMs - nowMs > TRANSMISSION_TOLERANCE_MS) throw new SignatureError('timestamp_in_future');
}

function decodeSignature(header: string): Uint8Array {
  try {
    return decodeBase64(header);
  } catch {
    throw new SignatureError('malformed_header', `${PAYPAL_HEADERS.transmissionSig} is not base64`);
  }
}

/**
 * The normalised URL to fetch, or `certificate_untrusted`. The WHATWG URL parser is the
 * one `fetch` uses, so the host checked here is the host connected to: userinfo
 * (`https://api.paypal.com@evil.io/`) and look-alikes (`api.paypal.com.evil.io`) fail.
 */
function trustedCertificateUrl(header: string, certHosts: ReadonlySet<string>): string {
  let url: URL;
  try {
    url = new URL(header);
  } catch {
    throw new SignatureError('malformed_header', `${PAYPAL_HEADERS.certUrl} is not a URL`);
  }
  // `port` is '' for https on 443, whether written or not; any other port is refused.
  const trusted = url.protocol === 'https:' && url.username === '' && url.password === '' &&
    url.port === '' && certHosts.has(url.hostname);
  if (!trusted) throw new SignatureError('certificate_untrusted', url.origin);
  return url.href;
}

async function importCertificate(pem: string): Promise<CertificateKey> {
  const summary = parseCertificatePem(pem);
  const publicKey = await crypto.subtle.importKey(
    'spki',
    summary.subjectPublicKeyInfo as BufferSource,
    RSA_PKCS1_SHA256,
    false,
    ['verify'],
  );
  return { publicKey, notBeforeMs: summary.notBeforeMs, notAfterMs: summary.notAfterMs };
}
