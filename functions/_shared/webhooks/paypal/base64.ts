/** Strict base64 (RFC 4648 §4, padded): a header that is not exactly this is malformed. */

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes padded standard base64. `atob` alone would also accept missing padding and
 * embedded whitespace, so the shape is checked first.
 *
 * @example
 * ```ts
 * decodeBase64('AQID'); // Uint8Array [1, 2, 3]
 * decodeBase64('AQI'); // throws TypeError
 * ```
 */
export function decodeBase64(text: string): Uint8Array {
  if (!BASE64.test(text)) throw new TypeError('not padded standard base64');
  return Uint8Array.from(atob(text), (character) => character.charCodeAt(0));
}
