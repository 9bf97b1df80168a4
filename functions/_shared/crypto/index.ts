/**
 * Security primitives shared by every verifier: one constant-time comparison, one HMAC.
 * Web Crypto and `node:crypto`, which Deno, Supabase's edge runtime and Node all provide.
 */
import { createHash, type Hash } from 'node:crypto';

const encoder = new TextEncoder();

/** Bytes of a string (UTF-8) or the bytes themselves. */
export function toBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === 'string' ? encoder.encode(value) : value;
}

/**
 * Compares two byte strings in time that depends only on their lengths, never on where
 * they first differ. Length is not secret for signatures (fixed by the algorithm).
 */
export function timingSafeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  if (typeof a === 'string' && typeof b === 'string') {
    // Two strings: their UTF-16 code units, without encoding either.
    const length = Math.max(a.length, b.length);
    let difference = a.length ^ b.length;
    for (let index = 0; index < length; index += 1) {
      difference |= (a.charCodeAt(index) | 0) ^ (b.charCodeAt(index) | 0);
    }
    return difference === 0;
  }
  const left = toBytes(a);
  const right = toBytes(b);
  const length = Math.max(left.length, right.length);
  let difference = left.length ^ right.length;
  for (let index = 0; index < length; index += 1) {
    difference |= (left[index] ?? 0) ^ (right[index] ?? 0);
  }
  return difference === 0;
}

/**
 * True when `value` equals one of `candidates` (rotated secrets, tokens). Every candidate
 * is compared, in constant time, so timing tells neither which one matched nor whether
 * one did.
 */
export function timingSafeIncludes(
  candidates: readonly (string | Uint8Array)[],
  value: string | Uint8Array,
): boolean {
  let matched = false;
  for (const candidate of candidates) matched = timingSafeEqual(value, candidate) || matched;
  return matched;
}

/** SHA-256's block size: HMAC pads the key to it (RFC 2104). */
const SHA256_BLOCK_BYTES = 64;

/** SHA-256 states that have absorbed a key's inner and outer pad blocks. */
interface HmacKeyState {
  readonly inner: Hash;
  readonly outer: Hash;
}

/** String keys seen recently (app secrets); more than this and the cache starts over. */
const KEY_STATE_CACHE_SIZE = 32;
const keyStates = new Map<string, HmacKeyState>();

function hmacKeyState(key: Uint8Array): HmacKeyState {
  const block = key.length > SHA256_BLOCK_BYTES ? createHash('sha256').update(key).digest() : key;
  const innerPad = new Uint8Array(SHA256_BLOCK_BYTES).fill(0x36);
  const outerPad = new Uint8Array(SHA256_BLOCK_BYTES).fill(0x5c);
  for (let index = 0; index < block.length; index += 1) {
    innerPad[index]! ^= block[index]!;
    outerPad[index]! ^= block[index]!;
  }
  return {
    inner: createHash('sha256').update(innerPad),
    outer: createHash('sha256').update(outerPad),
  };
}

/**
 * HMAC-SHA256 (RFC 2104) of `message` under `key`, synchronous, from `node:crypto`'s
 * SHA-256 (Deno, Supabase's edge runtime and Node all provide it). The states after a
 * key's two pad blocks are computed once per string key and copied for every message:
 * Deno's own `createHmac` rebuilds the pads from fresh Buffers on every call, about twice
 * the cost on the intake path, and an awaited Web Crypto `sign` costs several times more.
 */
export function hmacSha256(key: string | Uint8Array, message: string | Uint8Array): Uint8Array {
  const digest = hmacOuter(key, message).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}

/**
 * {@link hmacSha256} as lowercase hex, for signatures sent in hex: encoded by the hash
 * itself, which costs less than the bytes (a copy into a `Buffer`) and decoding the
 * received hex to compare them (about a third of WhatsApp's verification in a loop).
 *
 * @example
 * ```ts
 * hmacSha256Hex('key', 'The quick brown fox jumps over the lazy dog');
 * // 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8'
 * ```
 */
export function hmacSha256Hex(key: string | Uint8Array, message: string | Uint8Array): string {
  return hmacOuter(key, message).digest('hex');
}

/** The outer hash of HMAC-SHA256, fed the inner digest, not yet finished. */
function hmacOuter(key: string | Uint8Array, message: string | Uint8Array): Hash {
  let state = typeof key === 'string' ? keyStates.get(key) : undefined;
  if (state === undefined) {
    state = hmacKeyState(toBytes(key));
    if (typeof key === 'string') {
      if (keyStates.size >= KEY_STATE_CACHE_SIZE) keyStates.clear();
      keyStates.set(key, state);
    }
  }
  const inner = state.inner.copy().update(toBytes(message)).digest();
  return state.outer.copy().update(inner);
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

// fatal: invalid UTF-8 is refused instead of becoming U+FFFD; ignoreBOM: a leading BOM is
// kept as text instead of being dropped. Together, encoding the text gives the bytes back.
const exactUtf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The text of `bytes` only when encoding that text gives exactly `bytes` back (valid UTF-8,
 * any BOM kept), else null. Libraries that verify a signature over a string need this:
 * a lenient decode maps different byte strings to one text, so a signature would vouch
 * for bytes that were never signed.
 *
 * @example
 * ```ts
 * decodeUtf8Exactly(new Uint8Array([0x68, 0x69])); // 'hi'
 * decodeUtf8Exactly(new Uint8Array([0xff])); // null
 * ```
 */
export function decodeUtf8Exactly(bytes: Uint8Array): string | null {
  try {
    return exactUtf8Decoder.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * SHA-256 of `value` (a string as UTF-8) as lowercase hex, synchronously, so that a caller
 * on a request's path (a WhatsApp change's key) need not yield to other requests' work.
 */
export function sha256Hex(value: string | Uint8Array): string {
  return createHash('sha256').update(toBytes(value)).digest('hex');
}
