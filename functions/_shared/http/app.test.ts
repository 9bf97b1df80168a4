import { describe, expect, it } from 'vitest';
import {
  acceptsMountPrefix,
  MAX_REQUEST_HEADER_BYTES,
  MAX_REQUEST_HEADERS,
  mountedAt,
} from './index.ts';
import { BODY_LIMIT, buildApp, problemOf, UUID } from '../../../tests/support/test-app.ts';

describe('request id', () => {
  it('keeps a well-formed X-Request-Id and returns it', async () => {
    const { app } = buildApp();
    const res = await app.request('/demo/health/ready', {
      headers: { 'X-Request-Id': 'abc-123_=' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('abc-123_=');
    expect(await res.json()).toEqual({ status: 'ready', request_id: 'abc-123_=' });
  });

  it.each([
    ['malformed', 'abc 123; drop'],
    ['too long', 'a'.repeat(256)],
    ['empty', ''],
  ])('replaces a %s one with a new UUID', async (_label, incoming) => {
    const { app } = buildApp();
    const res = await app.request('/demo/health/ready', { headers: { 'X-Request-Id': incoming } });
    expect(res.headers.get('x-request-id')).toMatch(UUID);
  });

  it('accepts exactly 255 characters', async () => {
    const { app } = buildApp();
    const id = 'a'.repeat(255);
    const res = await app.request('/demo/health/ready', { headers: { 'X-Request-Id': id } });
    expect(res.headers.get('x-request-id')).toBe(id);
  });

  it.each([
    ['404', '/demo/nope', {}],
    ['404 outside the base path', '/elsewhere', {}],
    ['405', '/demo/echo', { method: 'GET' }],
    ['413', '/demo/echo', { method: 'POST', body: 'x'.repeat(BODY_LIMIT + 1) }],
    ['500', '/demo/boom', {}],
  ])('is on the %s response and in its problem body', async (_label, path, init) => {
    const { app } = buildApp();
    const res = await app.request(path, { ...init, headers: { 'X-Request-Id': 'trace-1' } });
    expect(res.headers.get('x-request-id')).toBe('trace-1');
    expect((await problemOf(res)).request_id).toBe('trace-1');
  });
});

describe('CORS and secure headers', () => {
  const preflight = (origin: string) => ({
    method: 'OPTIONS',
    headers: {
      Origin: origin,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'content-type',
    },
  });

  it('allows a preflight from an allowed origin', async () => {
    const { app } = buildApp();
    const res = await app.request('/demo/echo', preflight('https://console.example'));
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://console.example');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('x-request-id')).toMatch(UUID);
  });

  it('does not allow a preflight from another origin', async () => {
    const { app } = buildApp();
    const res = await app.request('/demo/echo', preflight('https://evil.example'));
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('exposes X-Request-Id to scripts on an allowed origin', async () => {
    const { app } = buildApp();
    const res = await app.request('/demo/health/ready', {
      headers: { Origin: 'https://console.example' },
    });
    expect(res.headers.get('access-control-allow-origin')).toBe('https://console.example');
    expect(res.headers.get('access-control-expose-headers')).toBe('X-Request-Id');
    expect(res.headers.get('vary')).toContain('Origin');
  });

  it("allows any origin with ['*'] and sends no CORS headers with []", async () => {
    const any = buildApp({ corsOrigins: ['*'] }).app;
    const anyRes = await any.request('/demo/health/ready', {
      headers: { Origin: 'https://a.example' },
    });
    expect(anyRes.headers.get('access-control-allow-origin')).toBe('*');
    const none = buildApp({ corsOrigins: [] }).app;
    const noneRes = await none.request('/demo/health/ready', {
      headers: { Origin: 'https://a.example' },
    });
    expect(noneRes.headers.get('access-control-allow-origin')).toBeNull();
  });

  it.each(['/demo/health/ready', '/demo/nope', '/demo/boom'])(
    'sets the API security headers on %s',
    async (path) => {
      const { app } = buildApp();
      const res = await app.request(path);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('content-security-policy')).toBe(
        "default-src 'none'; frame-ancestors 'none'",
      );
      expect(res.headers.get('strict-transport-security')).toContain('max-age=');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      // Headers for HTML documents only are not sent.
      expect(res.headers.get('cross-origin-opener-policy')).toBeNull();
      expect(res.headers.get('x-dns-prefetch-control')).toBeNull();
    },
  );

  it("keeps a handler's own Cache-Control and still enforces the rest", async () => {
    const { app } = buildApp();
    const res = await app.request('/demo/cacheable');
    expect(res.headers.get('cache-control')).toBe('max-age=300');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
  });
});

describe('request log', () => {
  it('writes one line per request with the route pattern, never the raw URL', async () => {
    const { app, records } = buildApp();
    const res = await app.request('/demo/items/42?access_token=abc', {
      headers: { 'X-Request-Id': 'log-1', Authorization: 'Bearer abc.def.ghi' },
    });
    expect(res.status).toBe(200);
    const lines = records();
    // The handler's own line, through c.get('log'), then the request line.
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      msg: 'looking up item',
      request_id: 'log-1',
      function: 'demo',
      id: '42',
    });
    const line = lines[1]!;
    expect(Object.keys(line)).toEqual([
      'time',
      'level',
      'msg',
      'request_id',
      'function',
      'method',
      'route',
      'status',
      'duration_ms',
    ]);
    expect(line).toEqual({
      time: expect.any(String),
      level: 'info',
      msg: 'request',
      request_id: 'log-1',
      function: 'demo',
      method: 'GET',
      route: '/demo/items/:id',
      status: 200,
      duration_ms: 5,
    });
    expect(JSON.stringify(lines)).not.toContain('abc');
  });

  it.each([
    ['/demo/health/ready', 'GET', '/demo/health/ready', 200],
    ['/demo/nope', 'GET', 'unmatched', 404],
    ['/demo/health/ready', 'PUT', 'unmatched', 405],
    ['/demo/echo', 'POST', '/demo/echo', 413],
    ['/demo/boom', 'GET', '/demo/boom', 500],
  ])('logs %s %s as route %s with status %i', async (path, method, route, status) => {
    const { app, records } = buildApp();
    const body = method === 'POST' ? 'x'.repeat(BODY_LIMIT + 1) : undefined;
    await app.request(path, { method, body });
    expect(records()).toHaveLength(1);
    expect(records()[0]).toMatchObject({ msg: 'request', method, route, status });
  });
});

describe('request log levels', () => {
  it('logs a 503 at warn with why, and no stack; any other 5xx at error with its stack', async () => {
    const { app, records } = buildApp();
    await app.request('/demo/db-down');
    await app.request('/demo/boom');
    const [refused, failed] = records().filter((r) => r.msg === 'request');
    expect(refused).toMatchObject({
      level: 'warn',
      status: 503,
      error: { name: 'DatabaseUnavailableError', reason: 'unreachable' },
    });
    expect(JSON.stringify(refused)).not.toContain('stack');
    expect(failed).toMatchObject({ level: 'error', status: 500 });
    expect((failed!.error as { stack?: string }).stack).toContain('test-app.ts');
  });
});

describe('createFunctionApp', () => {
  it('refuses a bad function name or body limit at start', () => {
    expect(() => buildApp({ bodyLimitBytes: 0 })).toThrow(/bodyLimitBytes/);
    expect(() => buildApp({ bodyLimitBytes: Number.NaN })).toThrow(/bodyLimitBytes/);
  });

  it('serves a request under a mount prefix on the path without it', async () => {
    const { app, records } = buildApp();
    const mounted = mountedAt('/functions/v1');
    const ok = await app.fetch(
      new Request('http://local/functions/v1/demo/items/7?x=1'),
      mounted,
    );
    expect(await ok.json()).toEqual({ id: '7' });
    const missing = await app.fetch(new Request('http://local/functions/v1/demo/nope'), mounted);
    expect((await problemOf(missing)).instance).toBe('/demo/nope');
    expect(records().filter((r) => r.msg === 'request').map((r) => r.route)).toEqual([
      '/demo/items/:id',
      'unmatched',
    ]);
    // Without the prefix named, the prefixed path is not this app's.
    const plain = await app.fetch(new Request('http://local/functions/v1/demo/items/7'));
    expect(plain.status).toBe(404);
    expect(acceptsMountPrefix(app)).toBe(true);
    expect(acceptsMountPrefix({ fetch: () => new Response() })).toBe(false);
  });
});

describe('header limits', () => {
  it.each([
    ['one oversized header', { 'X-Big': 'a'.repeat(MAX_REQUEST_HEADER_BYTES) }],
    [
      'too many headers',
      Object.fromEntries(
        Array.from({ length: MAX_REQUEST_HEADERS + 1 }, (_, i) => [`x-filler-${i}`, 'v']),
      ),
    ],
  ])('answers %s with 431 and a problem body carrying the request id', async (_label, headers) => {
    const { app } = buildApp();
    const res = await app.request('/demo/health/ready', {
      headers: { ...headers, 'X-Request-Id': 'big-1' },
    });
    expect(res.status).toBe(431);
    expect(res.headers.get('x-request-id')).toBe('big-1');
    expect(await problemOf(res)).toMatchObject({
      status: 431,
      title: 'Request Header Fields Too Large',
      request_id: 'big-1',
    });
  });

  it('serves a request with headers just within the limits', async () => {
    const { app } = buildApp();
    const res = await app.request('/demo/health/ready', {
      headers: { 'X-Big': 'a'.repeat(MAX_REQUEST_HEADER_BYTES / 2) },
    });
    expect(res.status).toBe(200);
  });
});
