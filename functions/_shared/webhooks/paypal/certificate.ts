/**
 * The two things the PayPal verifier needs from an X.509 certificate (RFC 5280 §4.1): the
 * public key, as SubjectPublicKeyInfo bytes for `crypto.subtle.importKey('spki', ...)`, and
 * the validity window. Nothing else is interpreted.
 */
import { decodeBase64 } from './base64.ts';
import {
  DER_TAG,
  derContent,
  type DerElement,
  DerError,
  readDerChildren,
  readDerElement,
} from './der.ts';

export interface CertificateSummary {
  /** DER of the SubjectPublicKeyInfo (a copy, independent of the input buffer). */
  subjectPublicKeyInfo: Uint8Array;
  /** Start of validity, epoch milliseconds. */
  notBeforeMs: number;
  /** End of validity (inclusive), epoch milliseconds. */
  notAfterMs: number;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/;

/**
 * Reads the first certificate of a PEM document. PayPal's cert URL serves the signing
 * certificate followed by its issuers; the first one is the one whose key signs.
 *
 * @example
 * ```ts
 * const { subjectPublicKeyInfo, notAfterMs } = parseCertificatePem(await response.text());
 * ```
 */
export function parseCertificatePem(pem: string): CertificateSummary {
  const body = PEM_CERTIFICATE.exec(pem)?.[1];
  if (body === undefined) throw new DerError('no PEM CERTIFICATE block');
  let der: Uint8Array;
  try {
    der = decodeBase64(body.replace(/\s+/g, ''));
  } catch {
    throw new DerError('PEM body is not base64');
  }
  return parseCertificateDer(der);
}

/**
 * Reads a DER certificate:
 * `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }` and
 * `TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
 * validity, subject, subjectPublicKeyInfo, ... }`.
 *
 * @example
 * ```ts
 * const summary = parseCertificateDer(der);
 * ```
 */
export function parseCertificateDer(der: Uint8Array): CertificateSummary {
  const certificate = expectTag(
    readDerElement(der, 0, der.length),
    DER_TAG.SEQUENCE,
    'Certificate',
  );
  if (certificate.end !== der.length) throw new DerError('trailing bytes after Certificate');
  const [tbs] = readDerChildren(der, certificate);
  if (tbs === undefined) throw new DerError('empty Certificate');
  const fields = readDerChildren(der, expectTag(tbs, DER_TAG.SEQUENCE, 'TBSCertificate'));
  if (fields[0]?.tag === DER_TAG.CONTEXT_0_CONSTRUCTED) fields.shift();
  const [serial, signature, issuer, validity, subject, spki] = fields;
  expectTag(serial, DER_TAG.INTEGER, 'serialNumber');
  expectTag(signature, DER_TAG.SEQUENCE, 'signature');
  expectTag(issuer, DER_TAG.SEQUENCE, 'issuer');
  expectTag(subject, DER_TAG.SEQUENCE, 'subject');
  const publicKey = expectTag(spki, DER_TAG.SEQUENCE, 'subjectPublicKeyInfo');
  const [notBefore, notAfter] = readDerChildren(
    der,
    expectTag(validity, DER_TAG.SEQUENCE, 'validity'),
  );
  return {
    subjectPublicKeyInfo: der.slice(publicKey.start, publicKey.end),
    notBeforeMs: readTime(der, notBefore, 'notBefore'),
    notAfterMs: readTime(der, notAfter, 'notAfter'),
  };
}

function expectTag(element: DerElement | undefined, tag: number, field: string): DerElement {
  if (element?.tag !== tag) throw new DerError(`${field}: expected tag 0x${tag.toString(16)}`);
  return element;
}

// RFC 5280 §4.1.2.5: both forms are in UTC, end in Z and include seconds; no fractions.
const UTC_TIME = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;
const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

function readTime(der: Uint8Array, element: DerElement | undefined, field: string): number {
  const text = element ? String.fromCharCode(...derContent(der, element)) : '';
  const match = element?.tag === DER_TAG.UTC_TIME
    ? UTC_TIME.exec(text)
    : element?.tag === DER_TAG.GENERALIZED_TIME
    ? GENERALIZED_TIME.exec(text)
    : null;
  if (!match) throw new DerError(`${field}: not a UTCTime or GeneralizedTime`);
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  // RFC 5280 §4.1.2.5.1: a two-digit year YY >= 50 means 19YY, otherwise 20YY.
  const fullYear = element?.tag === DER_TAG.UTC_TIME ? (year >= 50 ? 1900 : 2000) + year : year;
  const date = new Date(Date.UTC(fullYear, month - 1, day, hour, minute, second));
  // Date.UTC rolls over out-of-range parts (Feb 30 → Mar 2); a real date survives unchanged.
  if (
    date.getUTCFullYear() !== fullYear || date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day || date.getUTCHours() !== hour ||
    date.getUTCMinutes() !== minute || date.getUTCSeconds() !== second
  ) {
    throw new DerError(`${field}: not a calendar date`);
  }
  return date.getTime();
}
