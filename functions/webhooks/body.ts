import type { Context } from 'hono';
import { ProblemError } from '../_shared/http/index.ts';
import { readStreamCapped } from '../_shared/streams/index.ts';

/**
 * Checks the media type (415) and reads the raw body once, refusing more than `limitBytes`
 * (413) whether or not the sender declared a Content-Length. The bytes are returned
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
  const declared = Number(c.req.header('content-length'));
  if (Number.isFinite(declared) && declared > options.limitBytes) throw tooLarge();

  const body = await readStreamCapped(c.req.raw.body, options.limitBytes);
  if (body === null) throw tooLarge();
  return body;
}
