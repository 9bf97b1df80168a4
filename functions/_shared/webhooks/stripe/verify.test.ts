import fc from 'fast-check';
import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { Buffer } from 'node:buffer';
import { toHex } from '../../crypto/index.ts';
import { verifyStripeSignature } from './verify.ts';
import { signatureFailure, signStripe } from '../../../../tests/support/webhooks/index.ts';

const encoder = new TextEncoder();
const SECRET = 'whsec_test_endpoint_secret';
const NOW_SECONDS = 1_760_000_000;
const EVENT = { id: 'evt_1', object: 'event', type: 'payment_intent.succeeded', data: {} };
const BODY = encoder.encode(JSON.stringify(EVENT));

function headerFor(
  body: Uint8Array | string,
  secret = SECRET,
  timestampSeconds = NOW_SECONDS,
): string {
  return signStripe(body, secret, timestampSeconds)['Stripe-Signature']!;
}

function v1Of(header: string): string {
  return header.split(',').find((item) => item.startsWith('v1='))!.slice('v1='.length);
}

function flipByte(bytes: Uint8Array, index: number, mask = 0x01): Uint8Array {
  const copy = bytes.slice();
  copy[index] = copy[index]! ^ mask;
  return copy;
}

describe('verifyStripeSignature', () => {
  it('returns the event of a correctly signed delivery', async () => {
    const event = await verifyStripeSignature(BODY, headerFor(BODY), [SECRET], NOW_SECONDS);
    expect(event).toEqual(EVENT);
  });

  it('accepts any v1 of several and ignores v0', async () => {
    const good = v1Of(headerFor(BODY));
    const other = v1Of(headerFor(BODY, 'whsec_other'));
    const header = `t=${NOW_SECONDS},v1=${other},v1=${good},v0=${other}`;
    await expect(verifyStripeSignature(BODY, header, [SECRET], NOW_SECONDS)).resolves.toEqual(
      EVENT,
    );

    const onlyV0Matches = `t=${NOW_SECONDS},v1=${other},v0=${good}`;
    expect(
      await signatureFailure(() =>
        verifyStripeSignature(BODY, onlyV0Matches, [SECRET], NOW_SECONDS)
      ),
    ).toBe('signature_mismatch');
  });

  it('refuses a body with one flipped byte', async () => {
    const header = headerFor(BODY);
    expect(
      await signatureFailure(() =>
        verifyStripeSignature(flipByte(BODY, 5), header, [SECRET], NOW_SECONDS)
      ),
    ).toBe('signature_mismatch');
  });

  it('refuses a body signed with another secret', async () => {
    const header = headerFor(BODY, 'whsec_someone_else');
    expect(await signatureFailure(() => verifyStripeSignature(BODY, header, [SECRET], NOW_SECONDS)))
      .toBe('signature_mismatch');
  });

  it('refuses a delivery without the header', async () => {
    for (const header of [null, '']) {
      expect(
        await signatureFailure(() => verifyStripeSignature(BODY, header, [SECRET], NOW_SECONDS)),
      ).toBe('missing_header');
    }
  });

  it('refuses a malformed header', async () => {
    const v1 = v1Of(headerFor(BODY));
    for (
      const header of [
        `v1=${v1}`, // no timestamp
        `t=${NOW_SECONDS}`, // no signature
        `t=${NOW_SECONDS},v0=${v1}`, // only the ignored scheme
        `t=${NOW_SECONDS},v1=`,
        `t=${NOW_SECONDS}abc,v1=${v1}`, // the library's parseInt would read 1760000000
        `t=-${NOW_SECONDS},v1=${v1}`,
        `t=${NOW_SECONDS},t=${NOW_SECONDS},v1=${v1}`,
        `t=${NOW_SECONDS},${v1}`,
        'garbage',
      ]
    ) {
      expect(
        await signatureFailure(() => verifyStripeSignature(BODY, header, [SECRET], NOW_SECONDS)),
        header,
      ).toBe('malformed_header');
    }
  });

  it('refuses timestamps more than 300 s old or ahead, and accepts 300 s', async () => {
    for (const [offset, reason] of [[-301, 'timestamp_too_old'], [301, 'timestamp_in_future']]) {
      const header = headerFor(BODY, SECRET, NOW_SECONDS + Number(offset));
      expect(
        await signatureFailure(() => verifyStripeSignature(BODY, header, [SECRET], NOW_SECONDS)),
      ).toBe(reason);
    }
    for (const offset of [-300, 300]) {
      const header = headerFor(BODY, SECRET, NOW_SECONDS + offset);
      await expect(verifyStripeSignature(BODY, header, [SECRET], NOW_SECONDS)).resolves.toEqual(
        EVENT,
      );
    }
  });

  it('fails closed when no secret is configured', async () => {
    const header = headerFor(BODY);
    for (const secrets of [[], [''], ['  ']]) {
      expect(
        await signatureFailure(() => verifyStripeSignature(BODY, header, secrets, NOW_SECONDS)),
      )
        .toBe('no_secret_configured');
    }
  });

  it('verifies with either secret while one rotates, and not with a removed one', async () => {
    const [oldSecret, newSecret] = ['whsec_old', 'whsec_new'];
    for (const secret of [oldSecret, newSecret]) {
      const header = headerFor(BODY, secret);
      await expect(verifyStripeSignature(BODY, header, [oldSecret, newSecret], NOW_SECONDS))
        .resolves.toEqual(EVENT);
    }
    const signedWithRemoved = headerFor(BODY, oldSecret);
    expect(
      await signatureFailure(() =>
        verifyStripeSignature(BODY, signedWithRemoved, [newSecret], NOW_SECONDS)
      ),
    ).toBe('signature_mismatch');
  });

  it('verifies the exact bytes, which the library alone does not', async () => {
    // A signed body that contains U+FFFD (EF BF BD); swapping those bytes for one invalid
    // byte decodes, leniently, to the same text.
    const signedBody = encoder.encode('{"id":"evt_2","object":"event","note":"\uFFFD"}');
    const header = headerFor(signedBody);
    const at = signedBody.indexOf(0xef);
    const forged = new Uint8Array([...signedBody.slice(0, at), 0xff, ...signedBody.slice(at + 3)]);
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...signedBody]);

    for (const unsigned of [forged, withBom]) {
      await expect(
        Stripe.webhooks.constructEventAsync(
          unsigned,
          header,
          SECRET,
          300,
          Stripe.createSubtleCryptoProvider(),
          NOW_SECONDS * 1000,
        ),
      ).resolves.toMatchObject({ id: 'evt_2' });
      expect(
        await signatureFailure(() =>
          verifyStripeSignature(unsigned, header, [SECRET], NOW_SECONDS)
        ),
      ).toBe('signature_mismatch');
    }
  });

  it('lets a correctly signed body that is not JSON fail as a parse error', async () => {
    const notJson = encoder.encode('not json');
    const header = headerFor(notJson);
    await expect(verifyStripeSignature(notJson, header, [SECRET], NOW_SECONDS)).rejects.toThrow(
      SyntaxError,
    );
  });

  it('verifies any signed event, and no single-byte change of body or signature', async () => {
    const event = fc.record({
      id: fc.string(),
      object: fc.constant('event'),
      data: fc.jsonValue({ stringUnit: 'binary', maxDepth: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(
        event,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (value, position, mask) => {
          const text = JSON.stringify(value);
          const body = encoder.encode(text);
          const header = headerFor(body);
          await expect(verifyStripeSignature(body, header, [SECRET], NOW_SECONDS)).resolves
            .toEqual(JSON.parse(text));

          const changedBody = flipByte(body, position % body.length, mask);
          expect(
            await signatureFailure(() =>
              verifyStripeSignature(changedBody, header, [SECRET], NOW_SECONDS)
            ),
          ).toBe('signature_mismatch');

          const digest = new Uint8Array(Buffer.from(v1Of(header), 'hex'));
          const changedV1 = toHex(flipByte(digest, position % digest.length, mask));
          const changedHeader = `t=${NOW_SECONDS},v1=${changedV1}`;
          expect(
            await signatureFailure(() =>
              verifyStripeSignature(body, changedHeader, [SECRET], NOW_SECONDS)
            ),
          ).toBe('signature_mismatch');
        },
      ),
    );
  });
});
