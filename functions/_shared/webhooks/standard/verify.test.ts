import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyStandardWebhook } from './verify.ts';
import {
  fromBase64,
  signatureFailure,
  signStandard,
  toBase64,
} from '../../../../tests/support/webhooks/index.ts';

const encoder = new TextEncoder();

// The specification's published test vector, from the reference library's test "sign
// function works" (standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts).
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestampSeconds: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

const SECRET = VECTOR.secret;
const NOW_SECONDS = 1_760_000_000;
const BODY = encoder.encode('{"type":"invoice.paid","data":{"id":"in_1"}}');

function signed(
  body: Uint8Array | string = BODY,
  secret = SECRET,
  timestampSeconds = NOW_SECONDS,
  id = 'msg_1',
): Headers {
  return new Headers(signStandard(id, timestampSeconds, body, secret));
}

function withHeader(headers: Headers, name: string, value: string | null): Headers {
  const copy = new Headers(headers);
  if (value === null) copy.delete(name);
  else copy.set(name, value);
  return copy;
}

function flipByte(bytes: Uint8Array, index: number, mask = 0x01): Uint8Array {
  const copy = bytes.slice();
  copy[index] = copy[index]! ^ mask;
  return copy;
}

describe('verifyStandardWebhook', () => {
  it('passes the specification test vector, and the test signer reproduces it', () => {
    const headers = new Headers({
      'webhook-id': VECTOR.id,
      'webhook-timestamp': String(VECTOR.timestampSeconds),
      'webhook-signature': VECTOR.signature,
    });
    const body = encoder.encode(VECTOR.body);
    expect(verifyStandardWebhook(body, headers, [VECTOR.secret], VECTOR.timestampSeconds))
      .toEqual({ id: VECTOR.id, timestampSeconds: VECTOR.timestampSeconds });

    const ours = signStandard(VECTOR.id, VECTOR.timestampSeconds, body, VECTOR.secret);
    expect(ours['webhook-signature']).toBe(VECTOR.signature);
  });

  it('accepts any v1 entry of several and skips other versions', () => {
    const good = (signed()).get('webhook-signature')!;
    const other = (signed(BODY, 'whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ='))
      .get('webhook-signature')!;
    const value = `${other} v1a,c29tZXRoaW5nIGVsc2U= ${good}`;
    const headers = withHeader(signed(), 'webhook-signature', value);
    expect(verifyStandardWebhook(BODY, headers, [SECRET], NOW_SECONDS).id).toBe('msg_1');
  });

  it('refuses a body with one flipped byte', async () => {
    const headers = signed();
    expect(
      await signatureFailure(() =>
        verifyStandardWebhook(flipByte(BODY, 3), headers, [SECRET], NOW_SECONDS)
      ),
    ).toBe('signature_mismatch');
  });

  it('refuses a delivery signed with another secret, or for another id', async () => {
    const otherSecret = signed(BODY, 'whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ=');
    expect(
      await signatureFailure(() => verifyStandardWebhook(BODY, otherSecret, [SECRET], NOW_SECONDS)),
    ).toBe('signature_mismatch');

    const otherId = withHeader(signed(), 'webhook-id', 'msg_2');
    expect(
      await signatureFailure(() => verifyStandardWebhook(BODY, otherId, [SECRET], NOW_SECONDS)),
    ).toBe('signature_mismatch');
  });

  it('refuses a delivery missing any of the three headers', async () => {
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const headers = withHeader(signed(), name, null);
      expect(
        await signatureFailure(() => verifyStandardWebhook(BODY, headers, [SECRET], NOW_SECONDS)),
        name,
      ).toBe('missing_header');
    }
  });

  it('refuses malformed timestamp and signature headers', async () => {
    const cases: [string, string][] = [
      ['webhook-timestamp', `${NOW_SECONDS}abc`], // parseInt would read it as NOW_SECONDS
      ['webhook-timestamp', `${NOW_SECONDS}.5`],
      ['webhook-timestamp', `-${NOW_SECONDS}`],
      ['webhook-timestamp', 'hello'],
      ['webhook-signature', 'v1,'],
      ['webhook-signature', 'v2,c29tZXRoaW5n'],
      ['webhook-signature', 'no-version-here'],
    ];
    for (const [name, value] of cases) {
      const headers = withHeader(signed(), name, value);
      expect(
        await signatureFailure(() => verifyStandardWebhook(BODY, headers, [SECRET], NOW_SECONDS)),
        `${name}: ${value}`,
      ).toBe('malformed_header');
    }
  });

  it('refuses timestamps more than 5 minutes old or ahead, and accepts 5 minutes', async () => {
    const old = signed(BODY, SECRET, NOW_SECONDS - 301);
    expect(await signatureFailure(() => verifyStandardWebhook(BODY, old, [SECRET], NOW_SECONDS)))
      .toBe('timestamp_too_old');
    const future = signed(BODY, SECRET, NOW_SECONDS + 301);
    expect(await signatureFailure(() => verifyStandardWebhook(BODY, future, [SECRET], NOW_SECONDS)))
      .toBe('timestamp_in_future');

    for (const offset of [-300, 300]) {
      const headers = signed(BODY, SECRET, NOW_SECONDS + offset);
      expect(verifyStandardWebhook(BODY, headers, [SECRET], NOW_SECONDS).timestampSeconds)
        .toBe(NOW_SECONDS + offset);
    }
  });

  it('fails closed when no secret is configured', async () => {
    const headers = signed();
    for (const secrets of [[], [''], [' ']]) {
      expect(
        await signatureFailure(() => verifyStandardWebhook(BODY, headers, secrets, NOW_SECONDS)),
      ).toBe('no_secret_configured');
    }
  });

  it('verifies with either secret while one rotates, and not with a removed one', async () => {
    const oldSecret = SECRET;
    const newSecret = 'whsec_bmV3LXNlY3JldC1vZi10aGlzLWVuZHBvaW50IQ==';
    for (const secret of [oldSecret, newSecret]) {
      const headers = signed(BODY, secret);
      expect(verifyStandardWebhook(BODY, headers, [oldSecret, newSecret], NOW_SECONDS).id)
        .toBe('msg_1');
    }
    const signedWithRemoved = signed(BODY, oldSecret);
    expect(
      await signatureFailure(() =>
        verifyStandardWebhook(BODY, signedWithRemoved, [newSecret], NOW_SECONDS)
      ),
    ).toBe('signature_mismatch');
  });

  it('refuses a body that is not UTF-8 even when its bytes were signed', async () => {
    // The package verifies text, and a lenient decode would let other bytes pass for these.
    const notUtf8 = new Uint8Array([0x7b, 0xff, 0x7d]);
    const headers = signed(notUtf8);
    expect(
      await signatureFailure(() => verifyStandardWebhook(notUtf8, headers, [SECRET], NOW_SECONDS)),
    ).toBe('signature_mismatch');
  });

  it('reports a secret that is not base64 as a configuration error', () => {
    const headers = signed();
    expect(() => verifyStandardWebhook(BODY, headers, ['whsec_***'], NOW_SECONDS)).toThrow(
      'a Standard Webhooks secret is not whsec_<base64>',
    );
  });

  it('verifies any signed body, and no single-byte change of body or signature', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }),
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (text, key, position, mask) => {
          const body = encoder.encode(text);
          const secret = `whsec_${toBase64(key)}`;
          const headers = signed(body, secret);
          expect(verifyStandardWebhook(body, headers, [secret], NOW_SECONDS).id).toBe('msg_1');

          const changedBody = flipByte(body, position % body.length, mask);
          expect(
            await signatureFailure(() =>
              verifyStandardWebhook(changedBody, headers, [secret], NOW_SECONDS)
            ),
          ).toBe('signature_mismatch');

          const digest = fromBase64(headers.get('webhook-signature')!.slice('v1,'.length));
          const changed = `v1,${toBase64(flipByte(digest, position % digest.length, mask))}`;
          const changedHeaders = withHeader(headers, 'webhook-signature', changed);
          expect(
            await signatureFailure(() =>
              verifyStandardWebhook(body, changedHeaders, [secret], NOW_SECONDS)
            ),
          ).toBe('signature_mismatch');
        },
      ),
    );
  });
});
