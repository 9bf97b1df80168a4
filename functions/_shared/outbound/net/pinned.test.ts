import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBlackHole } from '../../../../tests/support/black-hole.ts';
import {
  hasOpenssl,
  type Receiver,
  selfSignedCertificate,
  startReceiver,
} from '../../../../tests/support/outbound-receivers.ts';
import { freePort } from '../../../../tests/support/process.ts';
import { OutboundRequestFailed } from './errors.ts';
import { createOutboundPolicy, type Resolver, resolveTarget } from './guard.ts';
import {
  closeIdleConnections,
  DEFAULT_EXCERPT_BYTES,
  DEFAULT_TIMEOUT_MS,
  pinnedRequest,
} from './pinned.ts';

// A reserved name (RFC 6761): no real resolver can answer it, so a request that reaches the
// receiver under this name went to the pinned address without any lookup of its own.
const HOST = 'hooks.example.test';

/** A resolver answering `answers[n]` to the n-th lookup (the last one repeats). */
function scripted(...answers: string[][]): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolver = (hostname: string) => {
    calls.push(hostname);
    return Promise.resolve(answers[Math.min(calls.length - 1, answers.length - 1)] ?? []);
  };
  return Object.assign(resolver, { calls });
}

/** Production rules, with the test receivers' address allow-listed (as an operator would). */
function policy(resolver: Resolver = scripted(['127.0.0.1'])) {
  return createOutboundPolicy({ allowHttp: false, allowedTargets: ['127.0.0.1/32'], resolver });
}

async function failure(promise: Promise<unknown>): Promise<OutboundRequestFailed> {
  const error = await promise.then(() => undefined, (error) => error);
  expect(error).toBeInstanceOf(OutboundRequestFailed);
  return error as OutboundRequestFailed;
}

let receiver: Receiver;
let base: string;
beforeAll(async () => {
  receiver = await startReceiver();
  base = `http://${HOST}:${receiver.port}`;
});
afterAll(() => receiver.close());

describe('pinnedRequest over http', () => {
  it('connects to the checked address with the hostname as Host; a rebinding answer is never used', async () => {
    // First lookup: the allow-listed receiver; any later one: the cloud metadata address.
    const resolver = scripted(['127.0.0.1'], ['169.254.169.254']);
    const target = await resolveTarget(`${base}/ok?delivery=1#fragment`, policy(resolver));
    expect(target.address).toBe('127.0.0.1');

    const response = await pinnedRequest(target, {
      method: 'post',
      headers: { 'content-type': 'application/json', Host: 'evil.example' },
      body: '{"type":"ride.completed"}',
    });

    expect(response).toMatchObject({ status: 200, excerpt: 'hello', truncated: false });
    expect(response.headers['content-type']).toBe('text/plain');
    expect(response.durationMs).toBeGreaterThanOrEqual(0);
    expect(receiver.received.at(-1)).toEqual({
      method: 'POST',
      path: '/ok?delivery=1',
      host: `${HOST}:${receiver.port}`,
      body: '{"type":"ride.completed"}',
    });
    expect(resolver.calls).toEqual([HOST]);
    // What a second lookup would have given: refused by the guard.
    await expect(resolveTarget(`${base}/ok`, policy(resolver))).rejects.toMatchObject({
      reason: 'blocked_address',
    });
  });

  it('returns a redirect as it is and does not follow it', async () => {
    const response = await pinnedRequest(await resolveTarget(`${base}/redirect`, policy()));
    expect(response).toMatchObject({ status: 302, excerpt: 'moved', truncated: false });
    expect(response.headers.location).toBe('/landed');
    expect(receiver.received.map(({ path }) => path)).not.toContain('/landed');
  });

  it('passes Retry-After back with the status', async () => {
    const response = await pinnedRequest(await resolveTarget(`${base}/busy`, policy()));
    expect(response).toMatchObject({ status: 503, excerpt: 'try later', truncated: false });
    expect(response.headers['retry-after']).toBe('120');
  });

  it('reads 4 KB of an endless body, then hangs up instead of reading on', async () => {
    const response = await pinnedRequest(await resolveTarget(`${base}/endless`, policy()));
    expect(response.status).toBe(200);
    expect(response.excerpt).toBe('a'.repeat(DEFAULT_EXCERPT_BYTES));
    expect(response.truncated).toBe(true);
    // The receiver sees the connection close while it is still writing.
    expect(await receiver.endlessClosed).toBeGreaterThan(DEFAULT_EXCERPT_BYTES);
  });

  it('keeps only the excerpt of a large body', async () => {
    const target = await resolveTarget(`${base}/large`, policy());
    const response = await pinnedRequest(target, { maxExcerptBytes: 100 });
    expect(response).toMatchObject({ status: 200, excerpt: 'a'.repeat(100), truncated: true });
  });

  it('cuts the excerpt on a character boundary', async () => {
    const target = await resolveTarget(`${base}/utf8`, policy());
    // 5 bytes of "éé..." hold two characters and half of the third, which is dropped.
    expect(await pinnedRequest(target, { maxExcerptBytes: 5 })).toMatchObject({
      excerpt: 'éé',
      truncated: true,
    });
    const whole = await pinnedRequest(target, { maxExcerptBytes: 10_000 });
    expect(whole).toMatchObject({ excerpt: 'é'.repeat(5_000), truncated: false });
  });

  it('times out when the server never answers', async () => {
    const hole = await startBlackHole();
    try {
      const target = await resolveTarget(`http://${HOST}:${hole.port}/in?token=s3cr3t`, policy());
      const error = await failure(pinnedRequest(target, { timeoutMs: 200 }));
      expect(error.reason).toBe('timeout');
      expect(error.message).toBe(`GET ${HOST}: no complete response within 200 ms`);
      expect(error.host).toBe(HOST);
    } finally {
      await hole.close();
    }
  });

  it('the deadline covers the body: headers then silence is a timeout too', async () => {
    const target = await resolveTarget(`${base}/stall`, policy());
    expect((await failure(pinnedRequest(target, { timeoutMs: 300 }))).reason).toBe('timeout');
  });

  it("the defaults are the issue's: 15 s for the whole request, 4 KB of excerpt", () => {
    expect(DEFAULT_TIMEOUT_MS).toBe(15_000);
    expect(DEFAULT_EXCERPT_BYTES).toBe(4_096);
  });

  it('a refused connection fails with reason connect', async () => {
    const target = await resolveTarget(`http://${HOST}:${await freePort()}/`, policy());
    const error = await failure(pinnedRequest(target));
    expect(error).toMatchObject({ reason: 'connect', code: 'ECONNREFUSED' });
    expect(error.message).toMatch(new RegExp(`^GET ${HOST}: cannot connect to 127\\.0\\.0\\.1:`));
  });

  it('a peer that does not speak HTTP fails with reason protocol', async () => {
    const garbage: Server = createServer((socket) =>
      socket.resume().end('SSH-2.0-OpenSSH_9.6\r\n\r\n')
    );
    await new Promise<void>((ready) => garbage.listen(0, '127.0.0.1', ready));
    try {
      const port = (garbage.address() as { port: number }).port;
      const target = await resolveTarget(`http://${HOST}:${port}/`, policy());
      expect((await failure(pinnedRequest(target))).reason).toBe('protocol');
    } finally {
      await new Promise((done) => garbage.close(done));
    }
  });

  it('the caller can abort', async () => {
    const target = await resolveTarget(`${base}/stall`, policy());
    const controller = new AbortController();
    const pending = pinnedRequest(target, { signal: controller.signal });
    controller.abort();
    expect((await failure(pending)).reason).toBe('aborted');
    expect((await failure(pinnedRequest(target, { signal: AbortSignal.abort() }))).reason)
      .toBe('aborted');
  });
});

describe('pinnedRequest keeps connections open', () => {
  let own: Receiver;
  beforeAll(async () => {
    own = await startReceiver();
  });
  afterAll(() => own.close());
  const at = (name: string, path: string) =>
    resolveTarget(`http://${name}:${own.port}${path}`, policy());

  it('for the next request to the same destination, one at a time or side by side', async () => {
    const warnings: string[] = [];
    const warned = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', warned);
    const before = own.connections();
    try {
      // More requests than a connection may gather listeners before Node warns of a leak.
      for (let i = 0; i < 15; i++) {
        expect((await pinnedRequest(await at('reuse.example.test', '/ok'))).status).toBe(200);
      }
      await new Promise((next) => setImmediate(next));
    } finally {
      process.off('warning', warned);
    }
    expect(own.connections() - before).toBe(1);
    expect(warnings).toEqual([]);
    // Four at once need four connections; afterwards those four serve four more.
    const four = async () => {
      const target = await at('reuse.example.test', '/ok');
      return Promise.all([1, 2, 3, 4].map(() => pinnedRequest(target)));
    };
    await four();
    await four();
    expect(own.connections() - before).toBe(4);
  });

  it('never shares one between names, though they have the same address', async () => {
    const before = own.connections();
    for (const name of ['a.example.test', 'b.example.test', 'a.example.test', 'b.example.test']) {
      const response = await pinnedRequest(await at(name, '/ok'));
      expect(response.status).toBe(200);
    }
    expect(own.connections() - before).toBe(2);
    expect(own.received.slice(-4).map((r) => r.host)).toEqual([
      `a.example.test:${own.port}`,
      `b.example.test:${own.port}`,
      `a.example.test:${own.port}`,
      `b.example.test:${own.port}`,
    ]);
  });

  it('closes one whose answer was cut off instead of reading the rest', async () => {
    const cut = await pinnedRequest(await at('cut.example.test', '/large'), {
      maxExcerptBytes: 100,
    });
    expect(cut.truncated).toBe(true);
    const before = own.connections();
    expect((await pinnedRequest(await at('cut.example.test', '/ok'))).excerpt).toBe('hello');
    expect(own.connections() - before).toBe(1);
  });

  it('closes them all on request', async () => {
    await pinnedRequest(await at('closing.example.test', '/ok'));
    closeIdleConnections();
    const before = own.connections();
    await pinnedRequest(await at('closing.example.test', '/ok'));
    expect(own.connections() - before).toBe(1);
  });
});

describe.skipIf(!hasOpenssl)('pinnedRequest over https', () => {
  let tls: { key: string; cert: string };
  let secure: Receiver;
  beforeAll(async () => {
    tls = selfSignedCertificate([HOST], ['127.0.0.1']);
    secure = await startReceiver(tls);
  });
  afterAll(() => secure?.close());

  it('verifies the certificate against the hostname while connecting to the pinned address', async () => {
    const target = await resolveTarget(`https://${HOST}:${secure.port}/ok`, policy());
    const response = await pinnedRequest(target, { ca: tls.cert });
    expect(response).toMatchObject({ status: 200, excerpt: 'hello' });
    expect(secure.received.at(-1)?.host).toBe(`${HOST}:${secure.port}`);
  });

  it('refuses a certificate for another name, whatever address was pinned', async () => {
    const target = await resolveTarget(`https://other.example.test:${secure.port}/ok`, policy());
    const error = await failure(pinnedRequest(target, { ca: tls.cert }));
    expect(error).toMatchObject({ reason: 'tls', code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    expect(error.message).toMatch(/^GET other\.example\.test: TLS handshake failed/);
  });

  it('refuses a certificate the trusted roots did not sign', async () => {
    const target = await resolveTarget(`https://${HOST}:${secure.port}/ok`, policy());
    expect(await failure(pinnedRequest(target))).toMatchObject({ reason: 'tls' });
  });

  it("checks a literal IP target against the certificate's IP addresses", async () => {
    const target = await resolveTarget(`https://127.0.0.1:${secure.port}/busy`, policy());
    const response = await pinnedRequest(target, { ca: tls.cert });
    expect(response).toMatchObject({ status: 503, headers: { 'retry-after': '120' } });
  });

  it('keeps a verified connection open for the same name and roots only', async () => {
    const ok = async (name: string, ca?: string) =>
      (await pinnedRequest(
        await resolveTarget(`https://${name}:${secure.port}/ok`, policy()),
        ca === undefined ? {} : { ca },
      )).status;
    closeIdleConnections(); // the tests above left one open
    const before = secure.connections();
    expect(await ok(HOST, tls.cert)).toBe(200);
    expect(await ok(HOST, tls.cert)).toBe(200);
    expect(secure.connections() - before).toBe(1);
    // The same name without those roots: a connection of its own, which fails to verify.
    await expect(ok(HOST)).rejects.toMatchObject({ reason: 'tls' });
    expect(secure.connections() - before).toBe(2);
  });

  it('a TLS server that never finishes the handshake times out', async () => {
    const hole = await startBlackHole();
    try {
      const target = await resolveTarget(`https://${HOST}:${hole.port}/`, policy());
      const error = await failure(pinnedRequest(target, { ca: tls.cert, timeoutMs: 200 }));
      expect(error.reason).toBe('timeout');
    } finally {
      await hole.close();
    }
  });
});
