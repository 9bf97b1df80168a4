import { describe, expect, it } from 'vitest';
import { type CertificateKey, createCertificateKeyCache } from './cert-cache.ts';

const HOUR_MS = 60 * 60 * 1000;

/** A cache over a loader that records what it was asked for. */
function setup(options: { ttlMs?: number; maxEntries?: number; notAfterMs?: number } = {}) {
  let nowMs = 1_000_000;
  const loads: string[] = [];
  let failNext = false;
  const cache = createCertificateKeyCache({
    now: () => nowMs,
    ttlMs: options.ttlMs ?? HOUR_MS,
    maxEntries: options.maxEntries ?? 4,
    load: (url) => {
      loads.push(url);
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error('unavailable'));
      }
      const key: CertificateKey = {
        publicKey: { url } as unknown as CryptoKey,
        notBeforeMs: 0,
        notAfterMs: options.notAfterMs ?? Number.MAX_SAFE_INTEGER,
      };
      return Promise.resolve(key);
    },
  });
  return {
    cache,
    loads,
    advance: (ms: number) => nowMs += ms,
    failNextLoad: () => failNext = true,
  };
}

describe('createCertificateKeyCache', () => {
  it('loads a URL once while the entry is fresh, again after the TTL', async () => {
    const { cache, loads, advance } = setup();
    await cache.get('a');
    advance(HOUR_MS - 1);
    await cache.get('a');
    expect(loads).toEqual(['a']);
    advance(1);
    await cache.get('a');
    expect(loads).toEqual(['a', 'a']);
  });

  it("never keeps an entry past its certificate's notAfter", async () => {
    const { cache, loads, advance } = setup({ notAfterMs: 1_000_000 + 60_000 });
    await cache.get('a');
    advance(59_999);
    await cache.get('a');
    advance(1);
    await cache.get('a');
    expect(loads).toEqual(['a', 'a']);
  });

  it('shares one load between concurrent gets', async () => {
    const { cache, loads } = setup();
    const [first, second] = await Promise.all([cache.get('a'), cache.get('a')]);
    expect(first).toBe(second);
    expect(loads).toEqual(['a']);
  });

  it('does not remember failures', async () => {
    const { cache, loads, failNextLoad } = setup();
    failNextLoad();
    await expect(cache.get('a')).rejects.toThrow('unavailable');
    await expect(cache.get('a')).resolves.toBeDefined();
    expect(loads).toEqual(['a', 'a']);
  });

  it('drops the least recently used URL when full', async () => {
    const { cache, loads } = setup({ maxEntries: 2 });
    await cache.get('a');
    await cache.get('b');
    await cache.get('a'); // a is now more recent than b
    await cache.get('c'); // evicts b
    await cache.get('a');
    await cache.get('b');
    expect(loads).toEqual(['a', 'b', 'c', 'b']);
  });
});
