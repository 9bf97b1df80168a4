import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { requestBodyLimit } from './body-limit.ts';

const LIMIT = 1024;

/** A streamed (chunked) body of `chunks` pieces of `size` bytes that counts what was pulled. */
function streamedBody(chunks: number, size: number) {
  const source = { pulled: 0, cancelled: false };
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (source.pulled === chunks) return controller.close();
      source.pulled += 1;
      controller.enqueue(new Uint8Array(size).fill(0x61));
    },
    cancel() {
      source.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { source, body };
}

function appReading(read: boolean) {
  const app = new Hono();
  app.use(requestBodyLimit({
    maxBytes: LIMIT,
    onTooLarge: (c) => c.json({ error: 'too large' }, 413),
  }));
  app.post('/', async (c) => {
    if (!read) return c.json({ read: false }, 401);
    return c.json({ bytes: (await c.req.arrayBuffer()).byteLength });
  });
  return app;
}

function post(body: ReadableStream<Uint8Array>, headers: Record<string, string> = {}) {
  return new Request('http://local/', {
    method: 'POST',
    body,
    headers: { 'transfer-encoding': 'chunked', ...headers },
    duplex: 'half',
  } as RequestInit);
}

describe('requestBodyLimit on a streamed body', () => {
  it('never reads a body the handler does not read', async () => {
    const { source, body } = streamedBody(1_000, 4096);
    const res = await appReading(false).request(post(body));
    expect(res.status).toBe(401);
    expect(source.pulled).toBe(0);
  });

  it('hands a body within the limit to the handler whole', async () => {
    const { body } = streamedBody(4, 256);
    const res = await appReading(true).request(post(body));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ bytes: 1024 });
  });

  it('answers onTooLarge once the body passes the limit, reading no further', async () => {
    const { source, body } = streamedBody(1_000, 256);
    const res = await appReading(true).request(post(body));
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: 'too large' });
    expect(source.pulled).toBe(5);
    expect(source.cancelled).toBe(true);
  });

  it('judges a declared length by the header alone', async () => {
    const { source, body } = streamedBody(1_000, 256);
    const res = await appReading(true).request(
      new Request('http://local/', {
        method: 'POST',
        body,
        headers: { 'content-length': String(LIMIT + 1) },
        duplex: 'half',
      } as RequestInit),
    );
    expect(res.status).toBe(413);
    expect(source.pulled).toBe(0);
  });
});
