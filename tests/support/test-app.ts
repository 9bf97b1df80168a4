// Shared by this folder's tests: the routes every case exercises, and a captured log.
import { HTTPException } from 'hono/http-exception';
import { expect } from 'vitest';
import { DatabaseUnavailableError } from '../../functions/_shared/db/types.ts';
import { createLogger } from '../../functions/_shared/log/index.ts';
import {
  createFunctionApp,
  type FunctionAppOptions,
  ProblemError,
} from '../../functions/_shared/http/index.ts';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const BODY_LIMIT = 64;

/** A function app with a few routes, a captured log and a clock that ticks 5 ms per call. */
export function buildApp(overrides: Partial<FunctionAppOptions> = {}) {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', sink: (line) => lines.push(line) });
  let clock = 0;
  const app = createFunctionApp('demo', {
    logger,
    corsOrigins: ['https://console.example'],
    bodyLimitBytes: BODY_LIMIT,
    now: () => (clock += 5),
    ...overrides,
  });
  app.get('/health/ready', (c) => c.json({ status: 'ready', request_id: c.get('requestId') }));
  app.post('/echo', async (c) => c.text(await c.req.text()));
  app.get('/cacheable', (c) => c.json({ public: true }, 200, { 'Cache-Control': 'max-age=300' }));
  app.get('/items/:id', (c) => {
    c.get('log').info('looking up item', { id: c.req.param('id') });
    return c.json({ id: c.req.param('id') });
  });
  app.get('/boom', () => {
    throw new Error('password=hunter2 at db.internal:5432');
  });
  app.get('/invalid', () => {
    throw new ProblemError(422, {
      detail: 'amount must be positive',
      extensions: { errors: [{ path: 'amount' }], status: 200 },
    });
  });
  app.get('/private-503', () => {
    throw new ProblemError(503, { detail: 'pool exhausted on db-2.internal' });
  });
  app.get('/public-503', () => {
    throw new ProblemError(503, { detail: 'Intake for stripe is switched off.', expose: true });
  });
  app.get('/db-down', () => {
    throw new DatabaseUnavailableError('connect ECONNREFUSED 10.0.0.5:5432');
  });
  app.get('/unauthorized', () => {
    const res = new Response('Unauthorized', {
      headers: { 'WWW-Authenticate': 'Bearer realm="api"' },
    });
    throw new HTTPException(401, { message: 'Missing bearer token', res });
  });
  app.get('/throws-string', () => {
    throw 'not an error';
  });
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { app, lines, records };
}

export async function problemOf(res: Response) {
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  return (await res.json()) as Record<string, unknown>;
}
