import type { Context } from 'hono';
import { ProblemError } from '../_shared/http/index.ts';
import { readStreamCapped } from '../_shared/streams/index.ts';

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
  const length = c.req.header('content-length');
  const declared = length !== undefined && /^\d{1,15}$/.test(length) ? Number(length) : null;
  if (declared !== null && declared > options.limitBytes) throw tooLarge();

  // A declared length within the limit (and no chunked encoding) is what the HTTP server
  // reads and no more, so the whole body can be taken at once, the cheap way; the size is
  // checked again in case the declaration lied.
  if (declared !== null && c.req.header('transfer-encoding') === undefined) {
    const bytes = new Uint8Array(await c.req.raw.arrayBuffer());
    if (bytes.byteLength > options.limitBytes) throw tooLarge();
    return bytes;
  }
  const body = await readStreamCapped(c.req.raw.body, options.limitBytes);
  if (body === null) throw tooLarge();
  return body;
}
