import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32 } from './crc32.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('crc32', () => {
  it('matches the standard check value for "123456789"', () => {
    expect(crc32(bytes('123456789'))).toBe(0xcbf43926);
    expect(crc32(bytes('123456789'))).toBe(3421780262);
  });

  it('is unsigned when the top bit is set', () => {
    // 0xCBF43926 has its top bit set: a signed rendering would be -873187034.
    expect(String(crc32(bytes('123456789')))).toBe('3421780262');
    expect(crc32(bytes('{}'))).toBe(0xa3a6bf43);
    expect(String(crc32(bytes('{}')))).toBe('2745614147');
  });

  it('matches known vectors without the top bit', () => {
    expect(crc32(new Uint8Array())).toBe(0);
    expect(crc32(bytes('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
  });

  it('agrees with zlib on any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (data) => {
        expect(crc32(data)).toBe(zlibCrc32(data));
      }),
    );
  });
});
