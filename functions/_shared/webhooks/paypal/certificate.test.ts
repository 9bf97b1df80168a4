import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPayPalTestCertificate, derInteger } from '../../../../cli/sandbox/paypal-signer.ts';
import { parseCertificateDer, parseCertificatePem } from './certificate.ts';
import { DerError } from './der.ts';

function nodeView(pem: string) {
  const certificate = new X509Certificate(pem);
  return {
    spki: new Uint8Array(certificate.publicKey.export({ type: 'spki', format: 'der' })),
    notBeforeMs: Date.parse(certificate.validFrom),
    notAfterMs: Date.parse(certificate.validTo),
  };
}

function expectSameAsNode(pem: string) {
  const ours = parseCertificatePem(pem);
  const node = nodeView(pem);
  expect(ours.subjectPublicKeyInfo).toEqual(node.spki);
  expect(ours.notBeforeMs).toBe(node.notBeforeMs);
  expect(ours.notAfterMs).toBe(node.notAfterMs);
}

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** A certificate made by OpenSSL, so the parser is checked against a real-world encoder. */
function opensslCertificate(keyArgs: string[], days: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'paypal-cert-'));
  try {
    const out = join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req',
      '-x509',
      '-nodes',
      ...keyArgs,
      '-keyout',
      join(dir, 'key.pem'),
      '-subj',
      '/CN=api.sandbox.paypal.com',
      '-days',
      String(days),
      '-out',
      out,
    ], { stdio: 'ignore' });
    return readFileSync(out, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('parseCertificatePem', () => {
  it('reads the key and UTCTime validity of the test helper certificate', async () => {
    const { pem } = await createPayPalTestCertificate({
      notBefore: new Date('2024-01-02T03:04:05Z'),
      notAfter: new Date('2049-12-31T23:59:59Z'),
    });
    const summary = parseCertificatePem(pem);
    expect(summary.notBeforeMs).toBe(Date.parse('2024-01-02T03:04:05Z'));
    expect(summary.notAfterMs).toBe(Date.parse('2049-12-31T23:59:59Z'));
    expectSameAsNode(pem);
  });

  it('reads GeneralizedTime (years from 2050)', async () => {
    const { pem } = await createPayPalTestCertificate({
      notAfter: new Date('2051-07-08T09:10:11Z'),
    });
    expect(parseCertificatePem(pem).notAfterMs).toBe(Date.parse('2051-07-08T09:10:11Z'));
    expectSameAsNode(pem);
  });

  it('reads a UTCTime year of 50 or more as 19YY', async () => {
    const { pem } = await createPayPalTestCertificate({
      notBefore: new Date('1999-05-06T07:08:09Z'),
    });
    expect(parseCertificatePem(pem).notBeforeMs).toBe(Date.parse('1999-05-06T07:08:09Z'));
  });

  it('takes the first certificate of a chain', async () => {
    const leaf = await createPayPalTestCertificate({ commonName: 'leaf' });
    const issuer = await createPayPalTestCertificate({ commonName: 'issuer' });
    expect(parseCertificatePem(`${leaf.pem}${issuer.pem}`).subjectPublicKeyInfo)
      .toEqual(nodeView(leaf.pem).spki);
  });

  it.skipIf(!hasOpenssl)('agrees with Node on OpenSSL-made RSA and EC certificates', () => {
    expectSameAsNode(opensslCertificate(['-newkey', 'rsa:2048'], 2));
    expectSameAsNode(
      opensslCertificate(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 9_500),
    );
  });

  it.each([
    ['no PEM block', 'hello'],
    [
      'a PEM block that is not base64',
      '-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----',
    ],
    [
      'a PEM block that is not a certificate',
      '-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----',
    ],
  ])('refuses %s', (_, pem) => {
    expect(() => parseCertificatePem(pem)).toThrow(DerError);
  });
});

describe('parseCertificateDer', () => {
  async function sampleDer(): Promise<Uint8Array> {
    const { pem } = await createPayPalTestCertificate();
    return new Uint8Array(new X509Certificate(pem).raw);
  }

  it('refuses every truncation of a certificate', async () => {
    const der = await sampleDer();
    for (let length = 0; length < der.length; length += 1) {
      expect(() => parseCertificateDer(der.subarray(0, length))).toThrow(DerError);
    }
  });

  it('either parses or throws DerError when any byte is corrupted', async () => {
    const der = await sampleDer();
    fc.assert(
      fc.property(fc.nat(der.length - 1), fc.integer({ min: 1, max: 255 }), (index, xor) => {
        const corrupted = der.slice();
        corrupted[index]! ^= xor;
        try {
          parseCertificateDer(corrupted);
        } catch (error) {
          expect(error).toBeInstanceOf(DerError);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('refuses trailing bytes and indefinite lengths', async () => {
    const der = await sampleDer();
    expect(() => parseCertificateDer(Uint8Array.of(...der, 0))).toThrow(DerError);
    expect(() => parseCertificateDer(Uint8Array.of(0x30, 0x80, 0, 0))).toThrow(DerError);
  });

  it('refuses a validity that is not a calendar date', async () => {
    const der = await sampleDer();
    // Find the notAfter UTCTime (the second 0x17 0x0d element) and make it February 30th.
    const text = String.fromCharCode(...der);
    const second = text.indexOf('\x17\x0d', text.indexOf('\x17\x0d') + 1);
    const broken = der.slice();
    broken.set(new TextEncoder().encode('300230000000Z'), second + 2);
    expect(() => parseCertificateDer(broken)).toThrow(/calendar date/);
  });
});

describe('the test certificate builder', () => {
  it('writes INTEGERs in minimal DER form, as OpenSSL requires', () => {
    const hex = (bytes: Uint8Array) =>
      Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    expect(hex(derInteger(Uint8Array.of(0x00, 0x12, 0x34)))).toBe('02021234');
    expect(hex(derInteger(Uint8Array.of(0x00, 0x00, 0x80)))).toBe('02020080');
    expect(hex(derInteger(Uint8Array.of(0x80, 0x01)))).toBe('0203008001');
    expect(hex(derInteger(Uint8Array.of(0x00, 0x00)))).toBe('020100');
    expect(hex(derInteger(Uint8Array.of(0x7f)))).toBe('02017f');
  });
});
