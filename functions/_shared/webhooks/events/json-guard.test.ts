import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../tests/support/database.ts';
import { findUnstorableJson, MAX_JSON_DEPTH } from './json-guard.ts';

const scan = (text: string, maxDepth?: number) =>
  findUnstorableJson(new TextEncoder().encode(text), maxDepth);

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

/** Pieces of a JSON string's text: characters, escapes, and escapes around the surrogates. */
const escapeOrCharacter = fc.oneof(
  fc.constantFrom('a', 'é', '🚗', '\\n', '\\\\', '\\"', '\\u0000', '\\u0041', '\\uD83D'),
  fc.integer({ min: 0xd7f0, max: 0xe010 }).map((code) =>
    `\\u${code.toString(16).padStart(4, '0')}`
  ),
);

describe('findUnstorableJson', () => {
  it('passes what jsonb stores', () => {
    for (
      const text of [
        '{"object":"whatsapp_business_account","entry":[{"changes":[]}]}',
        '"caf\\u00e9 \\ud83d\\ude97"', // a surrogate pair, as Meta escapes emoji
        '"\\uD83D\\uDE97"',
        '"\\\\u0000"', // an escaped backslash, then the text u0000
        '"a\\"[[[[\\"\\\\"', // brackets and quotes inside a string are text
        '"\\u0001\\u001f"',
        '"äöå 🚗"',
        '[1e400, -0, 123456789012345678901234567890]',
        '',
      ]
    ) {
      expect(scan(text), text).toBeNull();
    }
  });

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH} levels, counting arrays and objects`, () => {
    expect(scan(nested(MAX_JSON_DEPTH))).toBeNull();
    expect(scan(nested(MAX_JSON_DEPTH + 1))).toBe('too_deep');
    expect(scan(`${'{"a":'.repeat(MAX_JSON_DEPTH)}[1]${'}'.repeat(MAX_JSON_DEPTH)}`)).toBe(
      'too_deep',
    );
    // Siblings do not add up: depth is the deepest path, not the number of brackets.
    expect(scan(`[${Array(1000).fill(nested(MAX_JSON_DEPTH - 1)).join(',')}]`)).toBeNull();
    expect(scan('[[[]]]', 2)).toBe('too_deep');
  });

  it('scans a million levels without recursion', () => {
    expect(scan(nested(1_000_000))).toBe('too_deep');
    expect(scan(nested(1_000_000), Number.POSITIVE_INFINITY)).toBeNull();
  });

  it('refuses a \\u0000 escape in a value or a key, in either case', () => {
    expect(scan('"a\\u0000b"')).toBe('nul_escape');
    expect(scan('{"\\u0000":1}')).toBe('nul_escape');
    expect(scan('["ok","\\\\\\u0000"]')).toBe('nul_escape'); // \\ then \u0000
  });

  it('refuses lone surrogate escapes the way Postgres does', () => {
    expect(scan('"\\ud800"')).toBe('lone_surrogate'); // high at the end
    expect(scan('"\\ud800x"')).toBe('lone_surrogate'); // high, then a character
    expect(scan('"\\ud800\\n"')).toBe('lone_surrogate'); // high, then another escape
    expect(scan('"\\ud800\\ud800"')).toBe('lone_surrogate'); // high, high
    expect(scan('"\\ud800\\u0041"')).toBe('lone_surrogate'); // high, not a low
    expect(scan('"\\udc00"')).toBe('lone_surrogate'); // low first
    expect(scan('"\\udc00\\ud800"')).toBe('lone_surrogate');
    expect(scan('{"\\udfff":1}')).toBe('lone_surrogate'); // in a key
    expect(scan('"\\uDBFF\\uDFFF"')).toBeNull();
  });

  it('agrees with JSON.parse on which strings hold a NUL or a lone surrogate', () => {
    fc.assert(
      fc.property(fc.array(escapeOrCharacter, { maxLength: 8 }), (units) => {
        const text = `"${units.join('')}"`;
        const value = JSON.parse(text) as string;
        // In a `u` regex a pair is one code point: only a lone surrogate matches \p{Cs}.
        const storable = !value.includes('\0') && !/\p{Cs}/u.test(value);
        expect(scan(text) === null).toBe(storable);
      }),
      { numRuns: 500 },
    );
  });
});

describe('findUnstorableJson against the database', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('refuses exactly the strings jsonb refuses', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(escapeOrCharacter, { maxLength: 6 }), async (units) => {
        const text = `{"k${units.join('')}":"${units.join('')}"}`;
        const stored = await database.db.query('select $1::text::jsonb as v', [text]).then(
          () => true,
          () => false,
        );
        expect(scan(text) === null).toBe(stored);
      }),
      { numRuns: 200 },
    );
  });
});
