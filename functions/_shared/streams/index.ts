/**
 * Reads a byte stream to the end, giving up (and cancelling the stream) as soon as it is
 * over `maxBytes`: a sender cannot make us buffer more than the limit, whatever it declared.
 * Resolves to the bytes, or to null when the stream was over the limit.
 *
 * @example
 * const body = await readStreamCapped(request.body, 1024 * 1024);
 * if (body === null) throw new ProblemError(413);
 */
export async function readStreamCapped(
  stream: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<Uint8Array | null> {
  if (stream === null) return new Uint8Array();
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return concatBytes(chunks, total);
}

/**
 * Reads a stream whose length is known into one array of that length, copying each chunk
 * in as it arrives: the body is held once, not as chunks plus their concatenation.
 * Resolves to null when the stream carries more or fewer bytes than `length`.
 *
 * @example
 * const body = await readStreamExact(request.body, Number(contentLength));
 */
export async function readStreamExact(
  stream: ReadableStream<Uint8Array> | null,
  length: number,
): Promise<Uint8Array | null> {
  const bytes = new Uint8Array(length);
  if (stream === null) return length === 0 ? bytes : null;
  const reader = stream.getReader();
  let offset = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (offset + value.byteLength > length) {
      await reader.cancel();
      return null;
    }
    bytes.set(value, offset);
    offset += value.byteLength;
  }
  return offset === length ? bytes : null;
}

/**
 * The chunks one after the other in one array (`size`, their total length, when the caller
 * already knows it).
 *
 * @example
 * concatBytes([new Uint8Array([1]), new Uint8Array([2, 3])]); // Uint8Array [1, 2, 3]
 */
export function concatBytes(
  chunks: readonly Uint8Array[],
  size = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0),
): Uint8Array {
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
