import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { plainText, printable } from './text.ts';

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

describe('plainText', () => {
  it('is printable text that is well-formed UTF-16, for any string', () => {
    // Code units of every kind: lone and paired surrogates, controls, ASCII.
    const unit = fc.oneof(
      fc.integer({ min: 0, max: 0x7f }),
      fc.integer({ min: 0xd800, max: 0xdfff }),
      fc.integer({ min: 0, max: 0xffff }),
    ).map((code) => String.fromCharCode(code));
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 12 }), (text) => {
        const expected = !CONTROL.test(text) &&
          (text as unknown as { isWellFormed(): boolean }).isWellFormed();
        expect(plainText(text)).toBe(expected);
        expect(printable(text)).toBe(!CONTROL.test(text));
      }),
      { numRuns: 5_000 },
    );
  });

  it('keeps emoji and refuses the halves of one', () => {
    expect(plainText('Ada 🚕')).toBe(true);
    expect(plainText('🚕'.slice(0, 1))).toBe(false);
    expect(plainText('🚕'.slice(1))).toBe(false);
    expect(plainText('🚕🚕'.slice(1, 3))).toBe(false);
  });
});
