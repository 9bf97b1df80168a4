import { Buffer } from 'node:buffer';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hmacSha256, hmacSha256Hex, timingSafeEqual, timingSafeIncludes, toHex } from './index.ts';

describe('constant-time comparison', () => {
  it('compares strings and bytes, lengths included', () => {
    expect(timingSafeEqual('secret', 'secret')).toBe(true);
    expect(timingSafeEqual('secret', 'secreT')).toBe(false);
    expect(timingSafeEqual('secret', 'secret2')).toBe(false);
    expect(timingSafeEqual(new TextEncoder().encode('ab'), 'ab')).toBe(true);
    // Strings compare as what they are: two different lone surrogates are not the same
    // text (both would encode to U+FFFD's bytes), nor is a prefix.
    expect(timingSafeEqual('\ud800', '\ud801')).toBe(false);
    expect(timingSafeEqual('ab', 'abc')).toBe(false);
    expect(timingSafeEqual('', '')).toBe(true);
  });

  it('finds a value among rotated secrets, wherever it stands', () => {
    expect(timingSafeIncludes(['old-key', 'new-key'], 'new-key')).toBe(true);
    expect(timingSafeIncludes(['old-key', 'new-key'], 'old-key')).toBe(true);
    expect(timingSafeIncludes(['old-key', 'new-key'], 'other')).toBe(false);
    expect(timingSafeIncludes([], '')).toBe(false);
  });
});

describe('hmacSha256', () => {
  // RFC 4231, test cases 1-4, 6 and 7 (case 5 checks a truncated output).
  const vectors: [key: string, data: string, mac: string][] = [
    [
      '0b'.repeat(20),
      '4869205468657265',
      'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
    ],
    [
      '4a656665',
      '7768617420646f2079612077616e7420666f72206e6f7468696e673f',
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    ],
    [
      'aa'.repeat(20),
      'dd'.repeat(50),
      '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',
    ],
    [
      '0102030405060708090a0b0c0d0e0f10111213141516171819',
      'cd'.repeat(50),
      '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b',
    ],
    [
      'aa'.repeat(131),
      toHex(new TextEncoder().encode('Test Using Larger Than Block-Size Key - Hash Key First')),
      '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
    ],
    [
      'aa'.repeat(131),
      toHex(
        new TextEncoder().encode(
          'This is a test using a larger than block-size key and a larger than block-size ' +
            'data. The key needs to be hashed before being used by the HMAC algorithm.',
        ),
      ),
      '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
    ],
  ];

  it('gives the RFC 4231 results, keys longer than a block included', () => {
    for (const [key, data, mac] of vectors) {
      expect(toHex(hmacSha256(Buffer.from(key, 'hex'), Buffer.from(data, 'hex')))).toBe(mac);
    }
  });

  it('agrees with node:crypto for any key and message, the same key again and again', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 100 }), fc.uint8Array({ maxLength: 150 })),
        fc.oneof(fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 })),
        (key, message) => {
          const expected = createHmac('sha256', key).update(message).digest('hex');
          expect(toHex(hmacSha256(key, message))).toBe(expected);
          expect(hmacSha256Hex(key, message)).toBe(expected);
          // A second message under the same (now cached) key starts from a fresh state.
          expect(toHex(hmacSha256(key, message))).toBe(expected);
          expect(toHex(hmacSha256(key, 'x'))).toBe(
            createHmac('sha256', key).update('x').digest('hex'),
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});
