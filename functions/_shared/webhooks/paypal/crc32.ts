/**
 * CRC-32 as zlib computes it (IEEE 802.3, reflected polynomial 0xEDB88320). PayPal puts the
 * CRC of the raw body into the signed message, so this must be bit-for-bit the zlib one.
 */

const IEEE_POLYNOMIAL_REFLECTED = 0xedb88320;

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte += 1) {
    let value = byte;
    for (let bit = 0; bit < 8; bit += 1) {
      value = value & 1 ? (value >>> 1) ^ IEEE_POLYNOMIAL_REFLECTED : value >>> 1;
    }
    table[byte] = value;
  }
  return table;
})();

/**
 * CRC-32 of `bytes` as an unsigned 32-bit integer (0 to 4294967295). PayPal signs it in
 * decimal, unsigned; a signed rendering (negative for CRCs with the top bit set) would make
 * about half of all bodies fail verification.
 *
 * @example
 * ```ts
 * crc32(new TextEncoder().encode('123456789')); // 3421780262 (0xCBF43926)
 * ```
 */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc = TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}
