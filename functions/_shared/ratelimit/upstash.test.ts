import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startBlackHole } from '../../../tests/support/black-hole.ts';
import {
  startUpstashRestServer,
  type UpstashRestServer,
} from '../../../tests/support/upstash-rest-server.ts';
import {
  createUpstashLimiter,
  type UpstashLimiterError,
  type UpstashLimiterOptions,
} from './upstash.ts';

// Real Redis behind a local server speaking Upstash's REST protocol; the @upstash packages
// run unmodified against it.
const TOKEN = 'limiter-test-token';
const HOUR_SECONDS = 3600;

let server: UpstashRestServer;
let prefix: string;

beforeAll(async () => {
  server = await startUpstashRestServer({ token: TOKEN });
});

afterAll(async () => {
  await server?.close();
});

beforeEach(() => {
  prefix = `test:${randomUUID()}`;
});

function limiter(overrides: Partial<UpstashLimiterOptions> = {}) {
  return createUpstashLimiter({
    url: server.url,
    token: TOKEN,
    limit: 3,
    // An hour-long window, so a burst of checks never straddles a window boundary.
    windowSeconds: HOUR_SECONDS,
    prefix,
    // Generous, so a slow machine does not turn a real answer into a degraded one.
    timeoutMs: 5_000,
    ...overrides,
  });
}

function recordErrors(): { errors: UpstashLimiterError[]; onError(e: UpstashLimiterError): void } {
  const errors: UpstashLimiterError[] = [];
  return { errors, onError: (error) => errors.push(error) };
}

async function waitUntil(time: number): Promise<void> {
  while (Date.now() < time) await new Promise((resolve) => setTimeout(resolve, time - Date.now()));
}

describe('createUpstashLimiter', () => {
  it('allows requests within the limit, with remaining counting down', async () => {
    const reported = recordErrors();
    const edge = limiter({ onError: reported.onError });
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await edge.check('203.0.113.7'));
    expect(results).toEqual([
      { allowed: true, remaining: 2, retryAfterMs: 0, degraded: false },
      { allowed: true, remaining: 1, retryAfterMs: 0, degraded: false },
      { allowed: true, remaining: 0, retryAfterMs: 0, degraded: false },
    ]);
    expect(reported.errors).toEqual([]);
  });

  it('denies requests over the limit, with a retry delay of at most one window', async () => {
    const edge = limiter();
    for (let i = 0; i < 3; i++) await edge.check('203.0.113.7');
    const denied = await edge.check('203.0.113.7');
    expect(denied).toMatchObject({ allowed: false, remaining: 0, degraded: false });
    expect(denied.retryAfterMs).toBeGreaterThan(0);
    // One window, plus the boundary millisecond (see retryAfterMs in upstash.ts).
    expect(denied.retryAfterMs).toBeLessThanOrEqual(HOUR_SECONDS * 1000 + 1);
    expect((await edge.check('203.0.113.7')).allowed).toBe(false);
  });

  it('allows the key again once the returned retry delay has passed', async () => {
    const edge = limiter({ limit: 2, windowSeconds: 1 });
    // Checks until denied: with a one-second window the burst may straddle a boundary, in
    // which case the sliding count lets one more through.
    let result = await edge.check('2001:db8::1');
    for (let i = 0; result.allowed && i < 10; i++) result = await edge.check('2001:db8::1');
    expect(result.allowed).toBe(false);
    expect(result.retryAfterMs).toBeLessThanOrEqual(1001);

    await waitUntil(Date.now() + result.retryAfterMs);
    expect(await edge.check('2001:db8::1')).toMatchObject({ allowed: true, degraded: false });
  });

  it('keeps separate budgets for separate keys', async () => {
    const edge = limiter();
    for (let i = 0; i < 4; i++) await edge.check('198.51.100.1');
    expect((await edge.check('198.51.100.1')).allowed).toBe(false);
    expect(await edge.check('198.51.100.2')).toEqual({
      allowed: true,
      remaining: 2,
      retryAfterMs: 0,
      degraded: false,
    });
  });

  it('shares one budget between instances, as separate edge instances would', async () => {
    const first = limiter();
    const second = limiter();
    expect((await first.check('192.0.2.9')).remaining).toBe(2);
    expect((await second.check('192.0.2.9')).remaining).toBe(1);
    expect((await first.check('192.0.2.9')).remaining).toBe(0);
    expect(await second.check('192.0.2.9')).toMatchObject({ allowed: false, degraded: false });
  });

  it('fails open and reports it when Upstash refuses the token, counting nothing', async () => {
    const reported = recordErrors();
    const misconfigured = limiter({ token: 'wrong-token', onError: reported.onError });
    expect(await misconfigured.check('192.0.2.10')).toEqual({
      allowed: true,
      remaining: 3,
      retryAfterMs: 0,
      degraded: true,
    });
    expect(reported.errors).toHaveLength(1);
    expect(reported.errors[0]).toMatchObject({ name: 'UpstashLimiterError', reason: 'failed' });
    expect(reported.errors[0]?.message).toContain('Unauthorized');
    // The library's "command was: ..." suffix (the Lua script and the key) is not reported.
    expect(reported.errors[0]?.message).not.toContain('192.0.2.10');

    expect((await limiter().check('192.0.2.10')).remaining).toBe(2);
  });

  it('fails open at once, without retries, when nothing listens at the URL', async () => {
    const closed = await startBlackHole();
    await closed.close();
    const reported = recordErrors();
    const edge = limiter({ url: `http://127.0.0.1:${closed.port}`, onError: reported.onError });

    const started = performance.now();
    const result = await edge.check('192.0.2.11');
    // The client's default (5 retries with backoff) would take seconds.
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(result).toMatchObject({ allowed: true, degraded: true });
    expect(reported.errors.map((error) => error.reason)).toEqual(['failed']);
  });

  it('fails open within timeoutMs when Upstash accepts the connection but never answers', async () => {
    const hang = await startBlackHole();
    try {
      const reported = recordErrors();
      const edge = limiter({
        url: `http://127.0.0.1:${hang.port}`,
        timeoutMs: 150,
        onError: reported.onError,
      });

      const started = performance.now();
      const result = await edge.check('192.0.2.12');
      const elapsed = performance.now() - started;
      expect(result).toEqual({ allowed: true, remaining: 3, retryAfterMs: 0, degraded: true });
      expect(elapsed).toBeGreaterThanOrEqual(140);
      expect(elapsed).toBeLessThan(150 + 500);
      expect(reported.errors.map((error) => error.reason)).toEqual(['timeout']);
    } finally {
      await hang.close();
    }
  });

  it('refuses options that cannot describe a limit', () => {
    expect(() => limiter({ limit: 0 })).toThrow(RangeError);
    expect(() => limiter({ limit: 1.5 })).toThrow(RangeError);
    expect(() => limiter({ windowSeconds: 0 })).toThrow(RangeError);
    expect(() => limiter({ timeoutMs: -1 })).toThrow(RangeError);
    expect(() => limiter({ token: '' })).toThrow(TypeError);
  });
});
