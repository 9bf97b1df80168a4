import { describe, expect, it } from 'vitest';
import { BODY_LIMIT, buildApp, problemOf } from '../../../tests/support/test-app.ts';

describe('problem responses', () => {
  it('answers an unknown route with a 404 problem', async () => {
    const { app } = buildApp();
    const res = await app.request('/demo/nope?access_token=abc', {
      headers: { 'X-Request-Id': 'r404' },
    });
    expect(res.status).toBe(404);
    expect(await problemOf(res)).toEqual({
      type: 'about:blank',
      title: 'Not Found',
      status: 404,
      detail: 'No route matches this path.',
      instance: '/demo/nope',
      request_id: 'r404',
    });
  });

  it('answers a known path with the wrong method with 405 and Allow', async () => {
    const { app } = buildApp();
    const res = await app.request('/demo/health/ready', { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect(await problemOf(res)).toMatchObject({ status: 405, title: 'Method Not Allowed' });
  });

  it('hides an unexpected error from the client and logs it redacted', async () => {
    const { app, lines, records } = buildApp();
    const res = await app.request('/demo/boom', { headers: { 'X-Request-Id': 'r500' } });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('password');
    expect(text).not.toContain('db.internal');
    expect(text).not.toMatch(/\bat .*\.ts:\d+/);
    expect(JSON.parse(text)).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail:
        'The server could not complete the request. Quote the request_id when reporting this.',
      instance: '/demo/boom',
      request_id: 'r500',
    });

    expect(lines.join('\n')).not.toContain('hunter2');
    const [line] = records();
    expect(line).toMatchObject({
      level: 'error',
      msg: 'request',
      request_id: 'r500',
      status: 500,
      error: { name: 'Error', message: 'password=[REDACTED] at db.internal:5432' },
    });
    expect((line!.error as { stack: string }).stack).toContain('test-app.ts');
  });

  it('answers a ProblemError with its status, detail and extensions', async () => {
    const { app, records } = buildApp();
    const res = await app.request('/demo/invalid');
    expect(res.status).toBe(422);
    const body = await problemOf(res);
    expect(body).toMatchObject({
      type: 'about:blank',
      title: 'Unprocessable Content',
      status: 422,
      detail: 'amount must be positive',
      instance: '/demo/invalid',
      errors: [{ path: 'amount' }],
    });
    expect(records()).toHaveLength(1);
    expect(records()[0]).toMatchObject({ level: 'info', status: 422 });
    expect(records()[0]).not.toHaveProperty('error');
  });

  it('hides the detail of a 5xx ProblemError unless it is marked public', async () => {
    const { app } = buildApp();
    const hidden = await problemOf(await app.request('/demo/private-503'));
    expect(hidden).toMatchObject({ status: 503, title: 'Service Unavailable' });
    expect(JSON.stringify(hidden)).not.toContain('db-2.internal');
    const shown = await problemOf(await app.request('/demo/public-503'));
    expect(shown).toMatchObject({ status: 503, detail: 'Intake for stripe is switched off.' });
  });

  it('maps DatabaseUnavailableError to 503 with Retry-After', async () => {
    const { app, records } = buildApp();
    const res = await app.request('/demo/db-down');
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    const body = await problemOf(res);
    expect(body).toMatchObject({ status: 503, title: 'Service Unavailable' });
    expect(JSON.stringify(body)).not.toContain('10.0.0.5');
    expect(records()[0]).toMatchObject({
      level: 'warn',
      status: 503,
      error: { name: 'DatabaseUnavailableError', message: 'connect ECONNREFUSED 10.0.0.5:5432' },
    });
  });

  it("maps Hono's HTTPException, keeping its headers", async () => {
    const { app } = buildApp();
    const res = await app.request('/demo/unauthorized');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="api"');
    expect(await problemOf(res)).toMatchObject({ status: 401, detail: 'Missing bearer token' });
  });

  it('turns a thrown non-Error into a 500 problem', async () => {
    const { app, records } = buildApp();
    const res = await app.request('/demo/throws-string');
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain('not an error');
    expect(records()[0]).toMatchObject({
      status: 500,
      error: { name: 'NonErrorThrown', cause: 'not an error' },
    });
  });
});

describe('body limit', () => {
  it.each([
    ['streamed', {}],
    ['declared in Content-Length', { 'Content-Length': String(BODY_LIMIT + 1) }],
  ])('answers 413 problem+json for a body over the limit (%s)', async (_label, headers) => {
    const { app } = buildApp();
    const res = await app.request('/demo/echo', {
      method: 'POST',
      body: 'x'.repeat(BODY_LIMIT + 1),
      headers,
    });
    expect(res.status).toBe(413);
    expect(await problemOf(res)).toMatchObject({
      status: 413,
      title: 'Content Too Large',
      detail: `The request body exceeds ${BODY_LIMIT} bytes.`,
    });
  });

  it.each([
    ['streamed', {}],
    ['declared in Content-Length', { 'Content-Length': String(BODY_LIMIT) }],
  ])('passes a body at the limit through to the handler (%s)', async (_label, headers) => {
    const { app } = buildApp();
    const body = 'y'.repeat(BODY_LIMIT);
    const res = await app.request('/demo/echo', { method: 'POST', body, headers });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(body);
  });
});
