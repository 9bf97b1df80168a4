import { randomUUID } from 'node:crypto';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstashRestServer, type UpstashRestServer } from './upstash-rest-server.ts';

const TOKEN = 'rest-server-test-token';

let server: UpstashRestServer;
let prefix: string;

beforeAll(async () => {
  server = await startUpstashRestServer({ token: TOKEN });
  prefix = `test:${randomUUID()}`;
});

afterAll(async () => {
  await server?.close();
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

const base64 = (text: string) => Buffer.from(text).toString('base64');

describe('upstash REST server', () => {
  it('runs one command posted as a JSON array', async () => {
    const key = `${prefix}:single`;
    expect(await post('/', ['SET', key, 'v1'])).toEqual({ status: 200, body: { result: 'OK' } });
    expect(await post('/', ['GET', key])).toEqual({ status: 200, body: { result: 'v1' } });
    expect(await post('/', ['INCRBY', `${prefix}:n`, 5])).toEqual({
      status: 200,
      body: { result: 5 },
    });
    expect(await post('/', ['GET', `${prefix}:missing`])).toEqual({
      status: 200,
      body: { result: null },
    });
  });

  it('answers a Redis error with status 400 and {error}', async () => {
    const { status, body } = await post('/', ['NOSUCHCOMMAND']);
    expect(status).toBe(400);
    expect(body.error).toMatch(/^ERR unknown command/);
  });

  it('rejects a missing or wrong token with 401 and runs nothing', async () => {
    const key = `${prefix}:unauthorized`;
    const wrong = await post('/', ['SET', key, 'x'], { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    const missing = await fetch(`${server.url}/`, {
      method: 'POST',
      body: JSON.stringify(['SET', key, 'x']),
    });
    expect(missing.status).toBe(401);
    expect((await post('/', ['EXISTS', key])).body).toEqual({ result: 0 });
  });

  it('runs a pipeline in order, with a per-command error', async () => {
    const key = `${prefix}:pipeline`;
    const { status, body } = await post('/pipeline', [
      ['SET', key, 'a'],
      ['LPUSH', key, 'b'],
      ['GET', key],
      ['MGET', key, `${prefix}:missing`],
    ]);
    expect(status).toBe(200);
    expect(body).toHaveLength(4);
    expect(body[0]).toEqual({ result: 'OK' });
    expect(body[1].error).toMatch(/^WRONGTYPE/);
    expect(body[2]).toEqual({ result: 'a' });
    expect(body[3]).toEqual({ result: ['a', null] });
  });

  it('runs multi-exec as one transaction', async () => {
    const key = `${prefix}:multi`;
    const { status, body } = await post('/multi-exec', [
      ['INCR', key],
      ['INCR', key],
      ['GET', key],
    ]);
    expect(status).toBe(200);
    expect(body).toEqual([{ result: 1 }, { result: 2 }, { result: '2' }]);

    const aborted = await post('/multi-exec', [['INCR', key], ['NOSUCHCOMMAND']]);
    expect(aborted.status).toBe(400);
    expect(aborted.body.error).toMatch(/^EXECABORT/);
    expect((await post('/', ['GET', key])).body).toEqual({ result: '2' });
  });

  it('base64-encodes strings, and only strings, when asked with Upstash-Encoding', async () => {
    const key = `${prefix}:base64`;
    const asked = { 'upstash-encoding': 'base64' };
    expect((await post('/', ['SET', key, 'héllo'], asked)).body).toEqual({ result: base64('OK') });
    expect((await post('/', ['GET', key], asked)).body).toEqual({ result: base64('héllo') });
    const { body } = await post(
      '/pipeline',
      [['MGET', key, `${prefix}:missing`], ['STRLEN', key], ['NOSUCHCOMMAND']],
      asked,
    );
    expect(body[0]).toEqual({ result: [base64('héllo'), null] });
    expect(body[1]).toEqual({ result: 6 });
    expect(body[2].error).toMatch(/^ERR unknown command/);
  });

  it('runs scripts that carry the Upstash-only allow-key-locking flag, by EVAL and by hash', async () => {
    const key = `${prefix}:script`;
    // A fresh script text per run, so Redis has never seen it.
    const script = `#!lua flags=allow-key-locking\n-- ${randomUUID()}\n` +
      'return redis.call("INCRBY", KEYS[1], ARGV[1])';
    const clientSha = (await post('/', ['SCRIPT', 'LOAD', script])).body.result;
    expect(clientSha).toMatch(/^[0-9a-f]{40}$/);

    expect((await post('/', ['EVALSHA', clientSha, 1, key, 2])).body).toEqual({ result: 2 });
    expect((await post('/', ['EVAL', script, 1, key, 3])).body).toEqual({ result: 5 });

    const unknown = await post('/', ['EVALSHA', 'f'.repeat(40), 0]);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/^NOSCRIPT/);
  });

  it('serves the real @upstash/redis client, with its default base64 encoding', async () => {
    const redis = new Redis({ url: server.url, token: TOKEN, enableTelemetry: false });
    const key = `${prefix}:client`;
    expect(await redis.set(key, { greeting: 'héllo' })).toBe('OK');
    expect(await redis.get(key)).toEqual({ greeting: 'héllo' });
    expect(await redis.type(key)).toBe('string');
    expect(await redis.ping()).toBe('PONG');
    const pipeline = redis.pipeline();
    pipeline.incr(`${prefix}:counter`).incr(`${prefix}:counter`).get(`${prefix}:counter`);
    expect(await pipeline.exec()).toEqual([1, 2, 2]);
    expect(
      await redis.multi().hset(`${prefix}:hash`, { a: '1' }).hget(`${prefix}:hash`, 'a').exec(),
    )
      .toEqual([1, 1]);
  });
});
