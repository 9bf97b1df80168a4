import { describe, expect, it } from 'vitest';
import { readStreamCapped, readStreamExact } from './index.ts';

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

describe('readStreamExact', () => {
  const text = (bytes: Uint8Array | null) => bytes && new TextDecoder().decode(bytes);

  it('reads a stream of the declared length into one array', async () => {
    const { stream } = streamOf('ab', 'cde', 'f');
    expect(text(await readStreamExact(stream, 6))).toBe('abcdef');
  });

  it('refuses a stream longer than declared, cancelling it', async () => {
    const source = streamOf('abc', 'def');
    expect(await readStreamExact(source.stream, 4)).toBeNull();
    expect(source.cancelled()).toBe(true);
  });

  it('refuses a stream shorter than declared', async () => {
    expect(await readStreamExact(streamOf('abc').stream, 4)).toBeNull();
  });

  it('takes no body as empty only when nothing was declared', async () => {
    expect(await readStreamExact(null, 0)).toEqual(new Uint8Array());
    expect(await readStreamExact(null, 3)).toBeNull();
  });
});
