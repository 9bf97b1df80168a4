import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Buffer } from 'node:buffer';
import { toHex } from '../../crypto/index.ts';
import { signatureFailure, signWhatsApp } from '../../../../tests/support/webhooks/index.ts';
import { verifyWhatsAppSignature, verifyWhatsAppSubscription } from './verify.ts';

const encoder = new TextEncoder();
const SECRET = 'meta-app-secret';
const BODY = encoder.encode(
  '{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[]}]}',
);

function signatureOf(body: Uint8Array | string, secret: string): string {
  return signWhatsApp(body, secret)['X-Hub-Signature-256']!;
}

function flipByte(bytes: Uint8Array, index: number, mask = 0x01): Uint8Array {
  const copy = bytes.slice();
  copy[index] = copy[index]! ^ mask;
  return copy;
}

describe('verifyWhatsAppSignature', () => {
  it('accepts a body signed with the app secret', () => {
    expect(verifyWhatsAppSignature(BODY, signatureOf(BODY, SECRET), [SECRET]))
      .toBeUndefined();
  });

  it('accepts the hex digest in upper case', () => {
    const header = signatureOf(BODY, SECRET);
    const upper = `sha256=${header.slice('sha256='.length).toUpperCase()}`;
    expect(verifyWhatsAppSignature(BODY, upper, [SECRET])).toBeUndefined();
  });

  it('refuses a body with one flipped byte', async () => {
    const header = signatureOf(BODY, SECRET);
    expect(
      await signatureFailure(() => verifyWhatsAppSignature(flipByte(BODY, 10), header, [SECRET])),
    )
      .toBe('signature_mismatch');
  });

  it('refuses a body signed with another secret', async () => {
    const header = signatureOf(BODY, 'someone-else');
    expect(await signatureFailure(() => verifyWhatsAppSignature(BODY, header, [SECRET])))
      .toBe('signature_mismatch');
  });

  it('refuses a delivery without the header', async () => {
    expect(await signatureFailure(() => verifyWhatsAppSignature(BODY, null, [SECRET])))
      .toBe('missing_header');
    expect(await signatureFailure(() => verifyWhatsAppSignature(BODY, '', [SECRET])))
      .toBe('missing_header');
  });

  it('refuses a header that is not sha256=<64 hex digits>', async () => {
    const hex = (signatureOf(BODY, SECRET)).slice('sha256='.length);
    for (
      const header of [
        hex, // no prefix
        `sha1=${hex}`,
        `SHA256=${hex}`,
        `sha256=${hex.slice(2)}`, // a byte short
        `sha256=${hex}00`, // a byte long
        `sha256=${hex.slice(1)}`, // odd number of digits
        `sha256=${'zz'}${hex.slice(2)}`,
        `sha256= ${hex.slice(1)}`,
        'sha256=',
      ]
    ) {
      expect(await signatureFailure(() => verifyWhatsAppSignature(BODY, header, [SECRET])), header)
        .toBe('malformed_header');
    }
  });

  it('fails closed when no app secret is configured', async () => {
    const header = signatureOf(BODY, SECRET);
    for (const secrets of [[], [''], [' ', '']]) {
      expect(await signatureFailure(() => verifyWhatsAppSignature(BODY, header, secrets)))
        .toBe('no_secret_configured');
    }
  });

  it('never treats a blank list entry as a secret', async () => {
    // Signed with a blank key, as an attacker could; the list has a stray ', ' in it.
    const header = signatureOf(BODY, ' ');
    expect(await signatureFailure(() => verifyWhatsAppSignature(BODY, header, [SECRET, ' '])))
      .toBe('signature_mismatch');
  });

  it('verifies with either secret while one rotates, and not with a removed one', async () => {
    const [oldSecret, newSecret] = ['old-app-secret', 'new-app-secret'];
    const rotating = [oldSecret, newSecret];
    expect(verifyWhatsAppSignature(BODY, signatureOf(BODY, oldSecret), rotating))
      .toBeUndefined();
    expect(verifyWhatsAppSignature(BODY, signatureOf(BODY, newSecret), rotating))
      .toBeUndefined();
    const signedWithRemoved = signatureOf(BODY, oldSecret);
    expect(
      await signatureFailure(() => verifyWhatsAppSignature(BODY, signedWithRemoved, [newSecret])),
    )
      .toBe('signature_mismatch');
  });

  it('verifies unicode-escaped bodies over the raw bytes, not a re-serialised form', async () => {
    // As Meta sends it: non-ASCII escaped, the emoji as a surrogate pair.
    const raw = '{"entry":[{"text":{"body":"Caf\\u00e9 \\ud83d\\ude97"}}]}';
    const rawBytes = encoder.encode(raw);
    const header = signatureOf(rawBytes, SECRET);

    expect(verifyWhatsAppSignature(rawBytes, header, [SECRET])).toBeUndefined();

    const reserialised = JSON.stringify(JSON.parse(raw));
    expect(reserialised).toBe('{"entry":[{"text":{"body":"Café 🚗"}}]}');
    expect(
      await signatureFailure(() =>
        verifyWhatsAppSignature(encoder.encode(reserialised), header, [SECRET])
      ),
    ).toBe('signature_mismatch');
  });

  it('verifies any signed body, and no single-byte change of body or signature', async () => {
    const secret = fc.string({ minLength: 1 }).filter((value) => value.trim() !== '');
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 256 }),
        secret,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (body, appSecret, position, mask) => {
          const header = signatureOf(body, appSecret);
          verifyWhatsAppSignature(body, header, [appSecret]);

          const changedBody = flipByte(body, position % body.length, mask);
          expect(
            await signatureFailure(() => verifyWhatsAppSignature(changedBody, header, [appSecret])),
          )
            .toBe('signature_mismatch');

          const digest = new Uint8Array(Buffer.from(header.slice('sha256='.length), 'hex'));
          const changedHeader = `sha256=${toHex(flipByte(digest, position % digest.length, mask))}`;
          expect(
            await signatureFailure(() => verifyWhatsAppSignature(body, changedHeader, [appSecret])),
          )
            .toBe('signature_mismatch');
        },
      ),
    );
  });
});

describe('verifyWhatsAppSubscription', () => {
  const TOKEN = 'verify-me';

  function query(mode: string, token: string, challenge = '1158201444'): URLSearchParams {
    return new URLSearchParams({
      'hub.mode': mode,
      'hub.verify_token': token,
      'hub.challenge': challenge,
    });
  }

  it('returns the challenge for subscribe with the right token', () => {
    expect(verifyWhatsAppSubscription(query('subscribe', TOKEN), [TOKEN])).toBe('1158201444');
  });

  it('accepts any configured token, so the token can rotate', () => {
    expect(verifyWhatsAppSubscription(query('subscribe', 'new-token'), [TOKEN, 'new-token']))
      .toBe('1158201444');
  });

  it('returns null for a wrong token, a wrong mode or missing parameters', () => {
    expect(verifyWhatsAppSubscription(query('subscribe', 'guess'), [TOKEN])).toBeNull();
    expect(verifyWhatsAppSubscription(query('subscribe', `${TOKEN}x`), [TOKEN])).toBeNull();
    expect(verifyWhatsAppSubscription(query('unsubscribe', TOKEN), [TOKEN])).toBeNull();
    expect(verifyWhatsAppSubscription(new URLSearchParams({ 'hub.mode': 'subscribe' }), [TOKEN]))
      .toBeNull();
    const noChallenge = new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.verify_token': TOKEN });
    expect(verifyWhatsAppSubscription(noChallenge, [TOKEN])).toBeNull();
  });

  it('returns null when no token is configured, even for an empty token', () => {
    expect(verifyWhatsAppSubscription(query('subscribe', ''), [])).toBeNull();
    expect(verifyWhatsAppSubscription(query('subscribe', ''), [''])).toBeNull();
    expect(verifyWhatsAppSubscription(query('subscribe', TOKEN), [])).toBeNull();
  });
});
