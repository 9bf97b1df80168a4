/**
 * The load generator against small servers of our own, which keep their own account of what
 * arrived, so every claim of the generator's record is checked against the other side.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
} from 'node:http';
import { createServer as createTcpServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { signWhatsApp } from '../../../functions/_shared/webhooks/signing.ts';
import { freePort } from '../../support/process.ts';
import { startLoad } from './load.ts';

const SECRET = 'fault-test-app-secret';
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((server) => {
      if ('closeAllConnections' in server) (server as HttpServer).closeAllConnections();
      return new Promise((done) => server.close(done));
    }),
  );
});

async function listen<T extends Server>(server: T): Promise<string> {
  servers.push(server);
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * A WhatsApp intake stand-in: checks the signature, answers a new wamid `accepted`, a seen
 * one `duplicate`, and every fifth request 503 with Retry-After; remembers what it answered.
 */
async function intakeStandIn() {
  const answered = new Map<string, string>();
  const signatures: string[] = [];
  let requests = 0;
  const server = createHttpServer(async (req, res) => {
    const body = await readBody(req);
    requests += 1;
    const signature = req.headers['x-hub-signature-256'] as string;
    signatures.push(signature);
    if (signature !== signWhatsApp(body, SECRET)['X-Hub-Signature-256']) {
      res.writeHead(401).end();
      return;
    }
    const key = JSON.parse(body.toString()).entry[0].changes[0].value.messages[0].id as string;
    if (requests % 5 === 0) {
      answered.set(`${key}#${requests}`, '503');
      res.writeHead(503, { 'retry-after': '1' }).end();
      return;
    }
    const status = [...answered.values()].includes(`accepted:${key}`) ? 'duplicate' : 'accepted';
    answered.set(`${key}#${requests}`, `${status}:${key}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status }));
  });
  const base = await listen(server);
  return { base, answered, signatures, requests: () => requests };
}

describe('startLoad', () => {
  it('records every signed request with its answer, then stops on SIGTERM', async () => {
    const standIn = await intakeStandIn();
    const load = await startLoad({
      baseUrl: standIn.base,
      loop: { kind: 'closed', concurrency: 4 },
      traffic: { kind: 'signed', secret: SECRET },
    });
    await load.waitFor((progress) => progress.finished >= 200);
    const result = await load.stop();
    expect(() => process.kill(load.pid, 0)).toThrow(); // the generator process is gone

    expect(result.records).toHaveLength(result.sent);
    expect(standIn.requests()).toBe(result.sent);
    expect(new Set(result.records.map((record) => record.key)).size).toBe(result.sent);
    const accepted = [...standIn.answered.values()].filter((a) => a.startsWith('accepted:'));
    expect(result.accepted).toEqual(new Set(accepted.map((a) => a.slice('accepted:'.length))));
    expect(result.counts).toEqual({ 200: result.accepted.size, 503: result.sent / 5 | 0 });
    for (const record of result.records.filter((r) => r.status === 503)) {
      expect(record.retryAfter).toBe('1');
    }
    expect(result.okLatency.count).toBe(result.accepted.size);
    expect(result.okLatency.p50).toBeGreaterThan(0);
    expect(result.okLatency.p99).toBeGreaterThanOrEqual(result.okLatency.p50);
    // Records are in the order they began; the last answer may belong to an earlier one.
    const last = result.records.reduce((a, b) => (b.end > a.end ? b : a));
    expect(result.firstAfter(result.startedAt)?.status).toBe(200);
    expect(result.firstAfter(last.end, last.status)).toBe(last);
    expect(result.firstAfter(last.end + 1, last.status)).toBeUndefined();
    expect(result.startedAt).toBeLessThanOrEqual(result.records[0]!.start);
  });

  it('sends one event key over and over in duplicate mode', async () => {
    const standIn = await intakeStandIn();
    const load = await startLoad({
      baseUrl: standIn.base,
      loop: { kind: 'closed', concurrency: 3 },
      traffic: { kind: 'signed', secret: SECRET, duplicate: true },
      maxRequests: 60,
    });
    const result = await load.finished();
    expect(result.sent).toBe(60);
    expect(new Set(result.records.map((record) => record.key)).size).toBe(1);
    expect(result.accepted.size).toBe(1);
    expect(result.duplicates).toBe(60 - 60 / 5 - 1);
  });

  it('keeps an open loop at its rate and stops when its stdin closes', async () => {
    const standIn = await intakeStandIn();
    const load = await startLoad({
      baseUrl: standIn.base,
      loop: { kind: 'open', rate: 400, arrivals: 'poisson', maxOutstanding: 50 },
      traffic: { kind: 'signed', secret: SECRET },
    });
    await load.waitFor((progress) => progress.finished >= 300);
    const result = await load.stop({ via: 'stdin' });
    const seconds = (result.records.at(-1)!.start - result.startedAt) / 1000;
    // Poisson arrivals over a second or more: well within ±30 % of the rate.
    expect(result.sent / seconds).toBeGreaterThan(400 * 0.7);
    expect(result.sent / seconds).toBeLessThan(400 * 1.3);
    expect(result.skipped).toBe(0);
    expect(standIn.requests()).toBe(result.sent);
  });

  it('ramps an open loop up to its rate, then measures the run without the ramp', async () => {
    const standIn = await intakeStandIn();
    const load = await startLoad({
      baseUrl: standIn.base,
      loop: { kind: 'open', rate: 400, arrivals: 'even', rampMs: 1_000 },
      traffic: { kind: 'signed', secret: SECRET },
      durationMs: 1_000,
    });
    const result = await load.finished();
    expect(standIn.requests()).toBe(result.sent);
    expect(result.records).toHaveLength(result.sent);
    // Built before the run began, every request still carries a signature that verifies.
    expect(result.records.every((record) => [200, 503].includes(record.status as number)))
      .toBe(true);

    const ramp = result.records.filter((record) => record.ramp);
    const run = result.records.filter((record) => !record.ramp);
    const rampEnd = result.startedAt + 1_000;
    // A ramp from 0 to 400/s over a second sends about 200, fewer in its first half.
    expect(ramp.length).toBeGreaterThan(150);
    expect(ramp.length).toBeLessThan(260);
    const firstHalf = ramp.filter((record) => record.start < result.startedAt + 500).length;
    expect(firstHalf).toBeLessThan((ramp.length - firstHalf) / 2);
    expect(Math.max(...ramp.map((record) => record.start))).toBeLessThan(rampEnd + 50);
    expect(Math.min(...run.map((record) => record.start))).toBeGreaterThan(rampEnd - 50);
    expect(run.length).toBeGreaterThan(400 * 0.8);
    expect(run.length).toBeLessThan(400 * 1.2);

    // The figures are the run's; the accepted keys are everything the server stored.
    const counted = Object.values(result.counts).reduce((a, b) => a + b, 0);
    expect(counted).toBe(run.length);
    expect(result.okLatency.count).toBe(run.filter((record) => record.status === 200).length);
    const accepted = [...standIn.answered.values()].filter((a) => a.startsWith('accepted:'));
    expect(result.accepted).toEqual(new Set(accepted.map((a) => a.slice('accepted:'.length))));
    expect([...result.accepted].some((key) => ramp.some((record) => record.key === key)))
      .toBe(true);
  });

  it('streams big unsigned bodies and records an answer given before the body is read', async () => {
    const bodyBytes = 3 * 1024 * 1024;
    const heads: string[] = [];
    // Answers 413 as soon as the head is in and closes its side, still draining what comes
    // (as a server should, so the client reads the answer instead of a reset).
    const server = createTcpServer((socket) => {
      let head = '';
      socket.on('data', (chunk) => {
        if (head.includes('\r\n\r\n')) return;
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        heads.push(head.slice(0, head.indexOf('\r\n\r\n')));
        socket.end(
          'HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n',
        );
      });
      socket.on('error', () => {});
    });
    const load = await startLoad({
      baseUrl: await listen(server),
      loop: { kind: 'closed', concurrency: 8 },
      traffic: { kind: 'unsigned-big', bodyBytes, signature: 'none' },
      maxRequests: 8,
    });
    const result = await load.finished();
    expect(result.counts).toEqual({ 413: 8 });
    expect(heads).toHaveLength(8);
    for (const head of heads) {
      expect(head).toContain(`content-length: ${bodyBytes}`);
      expect(head).not.toMatch(/x-hub-signature-256/i);
    }
  });

  it('sends chunked bodies of the asked size with a wrong signature', async () => {
    const received: { bytes: number; signature: string; encoding: string }[] = [];
    const server = createHttpServer(async (req, res) => {
      const body = await readBody(req);
      received.push({
        bytes: body.length,
        signature: req.headers['x-hub-signature-256'] as string,
        encoding: req.headers['transfer-encoding'] as string,
      });
      res.writeHead(401).end();
    });
    const load = await startLoad({
      baseUrl: await listen(server),
      loop: { kind: 'closed', concurrency: 2 },
      traffic: {
        kind: 'unsigned-big',
        bodyBytes: 300_000,
        signature: 'wrong',
        transfer: 'chunked',
      },
      maxRequests: 4,
    });
    const result = await load.finished();
    expect(result.counts).toEqual({ 401: 4 });
    expect(received).toEqual(
      Array(4).fill({ bytes: 300_000, signature: `sha256=${'0'.repeat(64)}`, encoding: 'chunked' }),
    );
  });

  it('records refused connections and requests that time out by name', async () => {
    const closed = await startLoad({
      baseUrl: `http://127.0.0.1:${await freePort()}`,
      loop: { kind: 'closed', concurrency: 2 },
      traffic: { kind: 'signed', secret: SECRET },
      errorPauseMs: 5,
    });
    await closed.waitFor((progress) => progress.finished >= 10);
    const refused = await closed.stop();
    expect(Object.keys(refused.counts)).toEqual(['ConnectionRefused']);

    const silent = createTcpServer((socket) => socket.on('data', () => {}));
    const hung = await startLoad({
      baseUrl: await listen(silent),
      loop: { kind: 'closed', concurrency: 3 },
      traffic: { kind: 'signed', secret: SECRET },
      timeoutMs: 300,
      maxRequests: 3,
    });
    const result = await hung.finished();
    expect(result.counts).toEqual({ Timeout: 3 });
    for (const record of result.records) expect(record.ms).toBeGreaterThanOrEqual(299);
  });

  it('refuses a target off loopback', async () => {
    await expect(startLoad({
      baseUrl: 'http://192.0.2.1:80',
      loop: { kind: 'closed', concurrency: 1 },
      traffic: { kind: 'signed', secret: SECRET },
    })).rejects.toThrow(/loopback only/);
  });
});
