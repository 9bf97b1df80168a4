import { describe, expect, it } from 'vitest';
import { readStreamCapped } from './index.ts';

function streamOf(...chunks: string[]) {
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(new TextEncoder().encode(next));
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, cancelled: () => cancelled };
}

describe('readStreamCapped', () => {
  it('joins the chunks of a stream within the limit, up to exactly the limit', async () => {
    const bytes = await readStreamCapped(streamOf('ab', 'cd', 'e').stream, 5);
    expect(new TextDecoder().decode(bytes!)).toBe('abcde');
  });

  it('gives up and cancels the stream once it is over the limit', async () => {
    const source = streamOf('abc', 'def', 'never read');
    expect(await readStreamCapped(source.stream, 5)).toBeNull();
    expect(source.cancelled()).toBe(true);
  });

  it('reads no body as empty', async () => {
    expect(await readStreamCapped(null, 0)).toEqual(new Uint8Array());
  });
});
