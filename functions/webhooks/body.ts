import type { Context } from 'hono';
import { declaredLength, ProblemError } from '../_shared/http/index.ts';
import { readStreamCapped, readStreamExact } from '../_shared/streams/index.ts';

/**
 * From this size a declared body is read chunk by chunk into one buffer of its length:
 * `arrayBuffer()` holds the chunks and their concatenation at once (twice the body), which
 * matters for multi-megabyte WhatsApp bodies arriving together; below it the one call is
 * cheaper per request (`arrayBuffer()` keeps Deno.serve's fast path).
 */
export const STREAMED_BODY_BYTES = 64 * 1024;

/**
 * Checks the media type (415) and reads the raw body once, refusing more than `limitBytes`
 * (413) whether or not the sender declared a Content-Length (without one, reading stops
 * at the limit). The bytes are returned
 * untouched: signatures are computed over exactly what was sent.
 */
export async function readRawBody(
  c: Context,
  options: { limitBytes: number; mediaType: string },
): Promise<Uint8Array> {
  const contentType = c.req.header('content-type') ?? '';
  const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
  if (mediaType !== options.mediaType) {
    throw new ProblemError(415, { detail: `expected Content-Type: ${options.mediaType}` });
  }
  const tooLarge = () =>
    new ProblemError(413, { detail: `body larger than ${options.limitBytes} bytes` });
  const declared = declaredLength(c.req.raw.headers);
  if (declared !== null && declared > options.limitBytes) throw tooLarge();

  // A declared length within the limit (and no chunked encoding) is what the HTTP server
  // reads and no more, so the whole body can be taken at once, the cheap way; the size is
  // checked again in case the declaration lied.
  if (declared !== null && c.req.header('transfer-encoding') === undefined) {
    if (declared >= STREAMED_BODY_BYTES) {
      // A sender that stops short (closes, resets) errors the stream: its fault, not ours.
      const bytes = await readStreamExact(c.req.raw.body, declared).catch(() => null);
      if (bytes === null) {
        throw new ProblemError(400, { detail: 'body length differs from Content-Length' });
      }
      return bytes;
    }
    const bytes = new Uint8Array(await c.req.raw.arrayBuffer());
    if (bytes.byteLength > options.limitBytes) throw tooLarge();
    return bytes;
  }
  const body = await readStreamCapped(c.req.raw.body, options.limitBytes);
  if (body === null) throw tooLarge();
  return body;
}
