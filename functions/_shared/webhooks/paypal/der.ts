/**
 * Just enough DER (ITU-T X.690) to walk an X.509 certificate: read one tag-length-value
 * element and list the children of a constructed one. Every offset is bounds-checked,
 * because the bytes come from the network.
 */

export const DER_TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  SEQUENCE: 0x30,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  /** `[0] EXPLICIT`, the optional version field of a TBSCertificate. */
  CONTEXT_0_CONSTRUCTED: 0xa0,
} as const;

/** The bytes are not well-formed DER. */
export class DerError extends Error {
  override readonly name = 'DerError';
}

/** One element, as offsets into the buffer it was read from. */
export interface DerElement {
  tag: number;
  /** Offset of the tag byte: `bytes.subarray(start, end)` is the whole encoding. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the last content byte. */
  end: number;
}

// Four length bytes allow 4 GiB, far beyond any certificate; more is certainly garbage.
const MAX_LENGTH_BYTES = 4;

/**
 * Reads the element that starts at `offset` and ends at or before `limit`.
 *
 * @example
 * ```ts
 * const certificate = readDerElement(der, 0, der.length); // tag 0x30, a SEQUENCE
 * ```
 */
export function readDerElement(bytes: Uint8Array, offset: number, limit: number): DerElement {
  const tag = bytes[offset];
  const first = bytes[offset + 1];
  if (tag === undefined || first === undefined || offset + 2 > limit) {
    throw new DerError(`truncated element at ${offset}`);
  }
  // Tag numbers >= 31 use more bytes; nothing in an X.509 certificate needs them.
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at ${offset}`);
  let contentStart = offset + 2;
  let length = first;
  if (first & 0x80) {
    const count = first & 0x7f;
    // 0x80 is BER's indefinite length, which DER forbids.
    if (count === 0 || count > MAX_LENGTH_BYTES) {
      throw new DerError(`unsupported length form at ${offset}`);
    }
    if (contentStart + count > limit) throw new DerError(`truncated length at ${offset}`);
    length = 0;
    for (let index = 0; index < count; index += 1) {
      length = length * 256 + bytes[contentStart + index]!;
    }
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerError(`element at ${offset} runs past its container`);
  return { tag, start: offset, contentStart, end };
}

/**
 * The elements inside a constructed element (e.g. a SEQUENCE), in order.
 *
 * @example
 * ```ts
 * const [tbsCertificate, signatureAlgorithm, signature] = readDerChildren(der, certificate);
 * ```
 */
export function readDerChildren(bytes: Uint8Array, parent: DerElement): DerElement[] {
  const children: DerElement[] = [];
  let offset = parent.contentStart;
  while (offset < parent.end) {
    const child = readDerElement(bytes, offset, parent.end);
    children.push(child);
    offset = child.end;
  }
  return children;
}

/** The element's content bytes (a view, not a copy). */
export function derContent(bytes: Uint8Array, element: DerElement): Uint8Array {
  return bytes.subarray(element.contentStart, element.end);
}
