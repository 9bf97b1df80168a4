/**
 * What a stored payload may not contain, found on the raw bytes before anything is stored.
 *
 * Payloads go to Postgres as `jsonb`, which refuses (measured on PostgreSQL 15):
 * - a `\u0000` escape anywhere in a string or a key (22P05, "\u0000 cannot be converted to
 *   text");
 * - a lone UTF-16 surrogate escape: a high one (`\ud800`-`\udbff`) not followed at once by
 *   a low one (`\udc00`-`\udfff`), or a low one with no high one before it (22P02);
 * - nesting deep enough to exhaust its stack (54001 from about 50,000 levels on a 2 MB
 *   `max_stack_depth`; the embedded engine gives up far sooner, and `JSON.stringify`, which
 *   the driver calls on the way, throws from about 10,000).
 * Each would be a 500 after the delivery had been verified; found here, it is a 400.
 */

/** Deepest nesting of arrays and objects a stored payload may have, in levels. */
export const MAX_JSON_DEPTH = 64;

/** Why a JSON text cannot be stored as it is. */
export type UnstorableJson = 'too_deep' | 'nul_escape' | 'lone_surrogate';

/** What each refusal tells the sender (400 detail). */
export const UNSTORABLE_JSON_DETAIL: Readonly<Record<UnstorableJson, string>> = {
  too_deep: `JSON nested deeper than ${MAX_JSON_DEPTH} levels`,
  nul_escape: 'a JSON string contains \\u0000, which cannot be stored',
  lone_surrogate: 'a JSON string contains a lone UTF-16 surrogate escape, which cannot be stored',
};

const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \
const LOWER_U = 0x75; // u
const OPEN_ARRAY = 0x5b; // [
const CLOSE_ARRAY = 0x5d; // ]
const OPEN_OBJECT = 0x7b; // {
const CLOSE_OBJECT = 0x7d; // }

/**
 * Scans a JSON text (UTF-8 bytes) once, without recursion, and returns why it cannot be
 * stored, or null. Exact for valid JSON; for invalid JSON the answer does not matter, since
 * the parser refuses it anyway. Multi-byte UTF-8 sequences never contain a byte below 0x80,
 * so they cannot be mistaken for quotes, backslashes or brackets.
 *
 * @example
 * ```ts
 * findUnstorableJson(new TextEncoder().encode('{"a":"\\u0000"}')); // 'nul_escape'
 * findUnstorableJson(new TextEncoder().encode('[[1]]'), 1); // 'too_deep'
 * findUnstorableJson(new TextEncoder().encode('"\\ud83d\\ude97"')); // null (a pair)
 * ```
 */
export function findUnstorableJson(
  bytes: Uint8Array,
  maxDepth: number = MAX_JSON_DEPTH,
): UnstorableJson | null {
  let depth = 0;
  let i = 0;
  const end = bytes.length;
  while (i < end) {
    const byte = bytes[i]!;
    if (byte === QUOTE) {
      const after = scanString(bytes, i + 1);
      if (typeof after === 'string') return after;
      i = after;
      continue;
    }
    if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      depth += 1;
      if (depth > maxDepth) return 'too_deep';
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
      depth -= 1;
    }
    i += 1;
  }
  return null;
}

/**
 * Reads a string from just after its opening quote; returns the index after its closing
 * quote (or the end), or the reason it cannot be stored.
 */
function scanString(bytes: Uint8Array, start: number): number | UnstorableJson {
  // True right after a high surrogate escape: only a low surrogate escape may come next.
  let awaitingLow = false;
  let i = start;
  const end = bytes.length;
  while (i < end) {
    const byte = bytes[i]!;
    if (byte === QUOTE) return awaitingLow ? 'lone_surrogate' : i + 1;
    if (byte !== BACKSLASH) {
      if (awaitingLow) return 'lone_surrogate';
      i += 1;
      continue;
    }
    if (bytes[i + 1] !== LOWER_U) {
      if (awaitingLow) return 'lone_surrogate';
      i += 2; // \" \\ \/ \b \f \n \r \t: one escaped character
      continue;
    }
    const unit = hex4(bytes, i + 2);
    i += 6;
    if (unit < 0) continue; // not valid JSON: the parser refuses it
    if (unit === 0) return 'nul_escape';
    const high = unit >= 0xd800 && unit <= 0xdbff;
    const low = unit >= 0xdc00 && unit <= 0xdfff;
    if (awaitingLow) {
      if (!low) return 'lone_surrogate';
      awaitingLow = false;
    } else if (low) {
      return 'lone_surrogate';
    } else {
      awaitingLow = high;
    }
  }
  return end;
}

/** The value of four hex digits at `at`, or -1. */
function hex4(bytes: Uint8Array, at: number): number {
  let value = 0;
  for (let k = 0; k < 4; k += 1) {
    const digit = hexDigit(bytes[at + k]);
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

function hexDigit(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20; // A-F → a-f
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}
