/**
 * A stand-in for PayPal's signing side, for the local sandbox and the tests: a fresh RSA key
 * with a self-signed X.509 certificate (DER written here, since neither Web Crypto nor Node
 * can issue certificates), and deliveries signed the way PayPal signs them. Keys live in
 * memory only.
 */
import { crc32 } from 'node:zlib';
import {
  PAYPAL_AUTH_ALGO,
  PAYPAL_HEADERS,
} from '../../functions/_shared/webhooks/paypal/verify.ts';
import { toBase64 } from '../../functions/_shared/webhooks/signing.ts';

const RSA_PKCS1_SHA256 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
const SHA256_WITH_RSA_OID = '1.2.840.113549.1.1.11';
const COMMON_NAME_OID = '2.5.4.3';
const DAY_MS = 24 * 60 * 60 * 1000;

export interface PayPalTestCertificate {
  /** The certificate as PayPal's cert URL serves it. */
  pem: string;
  /** Signs deliveries that `pem` verifies. */
  privateKey: CryptoKey;
}

export interface PayPalTestCertificateOptions {
  /** Defaults to a day before now. */
  notBefore?: Date;
  /** Defaults to a year after now. Years from 2050 are written as GeneralizedTime. */
  notAfter?: Date;
  commonName?: string;
}

/**
 * A 2048-bit RSA key and a self-signed certificate for it.
 *
 * @example
 * ```ts
 * const { pem, privateKey } = await createPayPalTestCertificate({ notAfter: new Date('2020-01-01') });
 * ```
 */
export async function createPayPalTestCertificate(
  options: PayPalTestCertificateOptions = {},
): Promise<PayPalTestCertificate> {
  const keys = await crypto.subtle.generateKey(
    { ...RSA_PKCS1_SHA256, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
    true,
    ['sign', 'verify'],
  );
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey));
  const name = sequence(
    set(sequence(oid(COMMON_NAME_OID), utf8(options.commonName ?? 'PayPal test'))),
  );
  const algorithm = sequence(oid(SHA256_WITH_RSA_OID), tlv(0x05));
  const tbs = sequence(
    tlv(0xa0, derInteger(Uint8Array.of(2))), // version v3
    derInteger(crypto.getRandomValues(new Uint8Array(8))),
    algorithm,
    name,
    sequence(
      time(options.notBefore ?? new Date(Date.now() - DAY_MS)),
      time(options.notAfter ?? new Date(Date.now() + 365 * DAY_MS)),
    ),
    name,
    spki,
  );
  const signature = await crypto.subtle.sign(
    RSA_PKCS1_SHA256,
    keys.privateKey,
    tbs as BufferSource,
  );
  const der = sequence(tbs, algorithm, tlv(0x03, Uint8Array.of(0), new Uint8Array(signature)));
  return { pem: toPem(der), privateKey: keys.privateKey };
}

export interface PayPalDelivery {
  privateKey: CryptoKey;
  body: string | Uint8Array;
  webhookId: string;
  certUrl: string;
  /** Defaults to now. */
  transmissionTime?: Date;
  transmissionId?: string;
}

/**
 * The headers PayPal would send with `body`: RSA-SHA256 over
 * `id|time|webhookId|crc32(body)`. The CRC comes from node:zlib, independently of ours.
 *
 * @example
 * ```ts
 * const headers = await signPayPalDelivery({ privateKey, body, webhookId: 'WH1', certUrl });
 * await app.request('/webhooks/paypal', { method: 'POST', headers, body });
 * ```
 */
export async function signPayPalDelivery(
  delivery: PayPalDelivery,
): Promise<Record<string, string>> {
  const body = typeof delivery.body === 'string'
    ? new TextEncoder().encode(delivery.body)
    : delivery.body;
  const transmissionId = delivery.transmissionId ?? crypto.randomUUID();
  // PayPal writes whole seconds, e.g. 2016-09-21T22:00:46Z.
  const transmissionTime = (delivery.transmissionTime ?? new Date()).toISOString().replace(
    /\.\d{3}Z$/,
    'Z',
  );
  const message = `${transmissionId}|${transmissionTime}|${delivery.webhookId}|${crc32(body)}`;
  const signature = await crypto.subtle.sign(
    RSA_PKCS1_SHA256,
    delivery.privateKey,
    new TextEncoder().encode(message) as BufferSource,
  );
  return {
    [PAYPAL_HEADERS.transmissionId]: transmissionId,
    [PAYPAL_HEADERS.transmissionTime]: transmissionTime,
    [PAYPAL_HEADERS.transmissionSig]: toBase64(new Uint8Array(signature)),
    [PAYPAL_HEADERS.certUrl]: delivery.certUrl,
    [PAYPAL_HEADERS.authAlgo]: PAYPAL_AUTH_ALGO,
    'content-type': 'application/json',
  };
}

// --- DER writing (X.690), only what a certificate needs ---

function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const length = contents.reduce((sum, content) => sum + content.length, 0);
  const lengthBytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest % 256);
  const header = length < 0x80 ? [tag, length] : [tag, 0x80 | lengthBytes.length, ...lengthBytes];
  const out = new Uint8Array(header.length + length);
  out.set(header);
  let offset = header.length;
  for (const content of contents) {
    out.set(content, offset);
    offset += content.length;
  }
  return out;
}

const sequence = (...contents: Uint8Array[]) => tlv(0x30, ...contents);
const set = (...contents: Uint8Array[]) => tlv(0x31, ...contents);
const utf8 = (text: string) => tlv(0x0c, new TextEncoder().encode(text));

/**
 * A non-negative INTEGER from big-endian bytes in DER's minimal form: leading zero bytes
 * dropped (a random serial may start with them, and OpenSSL refuses that padding), then
 * one 0 put back when the sign bit would be set.
 */
export function derInteger(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
  const minimal = bytes.subarray(start);
  return minimal[0]! & 0x80 ? tlv(0x02, Uint8Array.of(0), minimal) : tlv(0x02, minimal);
}

function oid(dotted: string): Uint8Array {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const out = [40 * first + second];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let value = arc >>> 7; value > 0; value >>>= 7) base128.unshift(0x80 | (value & 0x7f));
    out.push(...base128);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(date: Date): Uint8Array {
  const digits = date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:T]/g, '');
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? tlv(0x17, new TextEncoder().encode(digits.slice(2)))
    : tlv(0x18, new TextEncoder().encode(digits));
}

function toPem(der: Uint8Array): string {
  const lines = toBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
