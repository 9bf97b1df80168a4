import { Buffer } from 'node:buffer';
import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readStreamCapped } from '../functions/_shared/streams/index.ts';
import { capturedLogger } from '../tests/support/logs.ts';
import { DRAIN_LIMIT_BYTES, serveWithNode } from './node-serve.ts';
import type { HttpServer } from './start.ts';

type Handler = (request: Request) => Response | Promise<Response>;

const servers: HttpServer[] = [];
const connections: RawConnection[] = [];

afterEach(async () => {
  for (const connection of connections.splice(0)) connection.socket.destroy();
  await Promise.all(servers.splice(0).map((server) => server.shutdown()));
});

async function serve(handler: Handler, logger = capturedLogger().logger): Promise<HttpServer> {
  const server = await serveWithNode({ hostname: '127.0.0.1', port: 0, logger }, handler);
  servers.push(server);
  return server;
}

interface RawResponse {
  status: number;
  /** Lower-cased names; repeated headers keep every value. */
  headers: Map<string, string[]>;
  body: string;
  header(name: string): string | undefined;
}

/**
 * One TCP connection speaking HTTP/1.1 by hand, so a test sees exactly which bytes went
 * over which connection (keep-alive, framing, chunks as they arrive).
 */
class RawConnection {
  readonly closed: Promise<void>;
  private buffer = Buffer.alloc(0);
  private isClosed = false;
  private wake: (() => void) | undefined;

  private constructor(readonly socket: Socket) {
    socket.on('data', (data: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, data]);
      this.wake?.();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        this.wake?.();
        resolve();
      })
    );
  }

  static async open(port: number): Promise<RawConnection> {
    const socket = connect(port, '127.0.0.1').setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const connection = new RawConnection(socket);
    connections.push(connection);
    return connection;
  }

  send(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  /** The next complete response (interim 1xx ones are skipped; see `head`). */
  async response(method = 'GET'): Promise<RawResponse> {
    for (;;) {
      const head = await this.head();
      if (head.status >= 100 && head.status < 200) continue;
      const noBody = method === 'HEAD' || head.status === 204 || head.status === 304;
      let body = '';
      if (noBody) body = '';
      else if (head.header('transfer-encoding') === 'chunked') {
        for (let chunk = await this.chunk(); chunk !== ''; chunk = await this.chunk()) {
          body += chunk;
        }
      } else {
        body = await this.take(Number(head.header('content-length') ?? 0));
      }
      return { ...head, body };
    }
  }

  /** The next status line and headers. */
  async head(): Promise<Omit<RawResponse, 'body'> & { body?: undefined }> {
    const text = await this.until(() => {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const head = this.buffer.subarray(0, end).toString('latin1');
      this.buffer = this.buffer.subarray(end + 4);
      return head;
    });
    const [statusLine, ...lines] = text.split('\r\n');
    const headers = new Map<string, string[]>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
    }
    return {
      status: Number(statusLine!.split(' ')[1]),
      headers,
      header: (name) => headers.get(name)?.join(', '),
    };
  }

  /** The next chunk of a chunked body; '' for the last one. */
  async chunk(): Promise<string> {
    const size = await this.until(() => {
      const end = this.buffer.indexOf('\r\n');
      if (end < 0) return undefined;
      const size = parseInt(this.buffer.subarray(0, end).toString('latin1'), 16);
      if (this.buffer.length < end + 2 + size + 2) return undefined;
      this.buffer = this.buffer.subarray(end + 2);
      return size;
    });
    const data = await this.take(size);
    await this.take(2);
    return data;
  }

  /** Bytes received and not yet read as part of a response. */
  pending(): number {
    return this.buffer.length;
  }

  private take(size: number): Promise<string> {
    return this.until(() => {
      if (this.buffer.length < size) return undefined;
      const data = this.buffer.subarray(0, size).toString('utf8');
      this.buffer = this.buffer.subarray(size);
      return data;
    });
  }

  private async until<T>(take: () => T | undefined): Promise<T> {
    for (;;) {
      const value = take();
      if (value !== undefined) return value;
      if (this.isClosed) throw new Error('connection closed by the server');
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

/** Promise.withResolvers, which Node 20 lacks. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => (resolve = settle));
  return { promise, resolve };
}

function post(path: string, body: string, headers: Record<string, string> = {}): string {
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return `POST ${path} HTTP/1.1\r\nHost: gate.test\r\nContent-Length: ${
    Buffer.byteLength(body)
  }\r\n${extra}\r\n${body}`;
}

function chunkOf(text: string): string {
  return `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
}

const echoLength: Handler = async (request) =>
  new Response(
    `${request.method} ${new URL(request.url).pathname} ${(await request.text()).length}`,
  );

describe('serveWithNode', () => {
  it('listens on the real port when asked for port 0', async () => {
    const server = await serve(() => new Response('ok'));
    expect(server.port).toBeGreaterThan(0);
    const res = await fetch(`http://127.0.0.1:${server.port}/`);
    expect(await res.text()).toBe('ok');
  });

  it('rejects when the port is taken', async () => {
    const first = await serve(() => new Response('ok'));
    await expect(serveWithNode({ hostname: '127.0.0.1', port: first.port }, echoLength))
      .rejects.toThrow(/EADDRINUSE|in use/i);
  });

  it('answers several POSTs with bodies over 1 KiB on one keep-alive connection', async () => {
    const server = await serve(echoLength);
    const connection = await RawConnection.open(server.port);
    const body = 'x'.repeat(2_000);
    for (let i = 0; i < 5; i++) {
      connection.send(post(`/hook/${i}`, body, { 'content-type': 'application/json' }));
      const res = await connection.response();
      expect(res.status).toBe(200);
      expect(res.body).toBe(`POST /hook/${i} 2000`);
      expect(res.header('connection')).toBe('keep-alive');
    }
    // Five answers came back over the one socket, and it is still open.
    expect(connection.socket.destroyed).toBe(false);
  });

  it('reuses the socket of a keep-alive Agent for JSON POSTs', async () => {
    const server = await serve(echoLength);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<Socket>();
    const body = JSON.stringify({ data: 'y'.repeat(1_500) });
    try {
      for (let i = 0; i < 3; i++) {
        const text = await new Promise<string>((resolve, reject) => {
          const req = httpRequest({
            host: '127.0.0.1',
            port: server.port,
            method: 'POST',
            path: '/json',
            agent,
            headers: { 'content-type': 'application/json', 'content-length': body.length },
          }, (res) => {
            let out = '';
            res.setEncoding('utf8').on('data', (data) => (out += data)).on(
              'end',
              () => resolve(out),
            );
          });
          req.on('socket', (socket) => sockets.add(socket));
          req.on('error', reject);
          req.end(body);
        });
        expect(text).toBe(`POST /json ${body.length}`);
      }
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  it('builds the Request: method, URL from Host, query, every header incl. repeated ones', async () => {
    let seen: Request | undefined;
    const server = await serve((request) => {
      seen = request;
      return new Response(null, { status: 204 });
    });
    const connection = await RawConnection.open(server.port);
    connection.send(
      'DELETE /things/7?a=1&b=two%20words&a=3 HTTP/1.1\r\nHost: example.test:8080\r\n' +
        'X-Multi: first\r\nx-multi: second\r\nAccept: text/plain\r\n\r\n',
    );
    expect((await connection.response('DELETE')).status).toBe(204);
    const url = new URL(seen!.url);
    expect(seen!.method).toBe('DELETE');
    expect(url.origin).toBe('http://example.test:8080');
    expect(url.pathname).toBe('/things/7');
    expect(url.searchParams.getAll('a')).toEqual(['1', '3']);
    expect(url.searchParams.get('b')).toBe('two words');
    expect(seen!.headers.get('x-multi')).toBe('first, second');
    expect(seen!.headers.get('accept')).toBe('text/plain');
    expect(seen!.body).toBeNull();
  });

  it('falls back to the bound address for a request without Host (HTTP/1.0)', async () => {
    let url = '';
    const server = await serve((request) => {
      url = request.url;
      return new Response('ok');
    });
    const connection = await RawConnection.open(server.port);
    connection.send('GET /old HTTP/1.0\r\n\r\n');
    expect((await connection.response()).status).toBe(200);
    expect(url).toBe(`http://127.0.0.1:${server.port}/old`);
  });

  it('refuses a Host that would rewrite the URL', async () => {
    const server = await serve(() => new Response('handler must not run'));
    const connection = await RawConnection.open(server.port);
    connection.send('GET /x HTTP/1.1\r\nHost: evil.test/other?\r\n\r\n');
    const res = await connection.response();
    expect(res.status).toBe(400);
    expect(res.header('content-type')).toBe('application/problem+json');
  });

  it('writes status, headers and every Set-Cookie; a whole body goes out with Content-Length', async () => {
    const server = await serve(() => {
      const headers = new Headers({ 'content-type': 'application/json', 'x-answer': '42' });
      headers.append('set-cookie', 'a=1; Path=/');
      headers.append('set-cookie', 'b=2; HttpOnly');
      return new Response(JSON.stringify({ ok: true }), { status: 201, headers });
    });
    const connection = await RawConnection.open(server.port);
    connection.send('GET / HTTP/1.1\r\nHost: gate.test\r\n\r\n');
    const res = await connection.response();
    expect(res.status).toBe(201);
    expect(res.headers.get('set-cookie')).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect(res.header('x-answer')).toBe('42');
    expect(res.header('content-length')).toBe(String('{"ok":true}'.length));
    expect(res.header('transfer-encoding')).toBeUndefined();
    expect(res.body).toBe('{"ok":true}');
  });

  it('hands a chunked request body over as a stream, chunk by chunk', async () => {
    const firstChunk = deferred<string>();
    const server = await serve(async (request) => {
      const reader = request.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (text === '') firstChunk.resolve(decoder.decode(value));
        text += decoder.decode(value);
      }
      return new Response(`got ${text}`);
    });
    const connection = await RawConnection.open(server.port);
    connection.send(
      'POST /upload HTTP/1.1\r\nHost: gate.test\r\nTransfer-Encoding: chunked\r\n\r\n' +
        chunkOf('hello '),
    );
    // The handler reads the first chunk before the client has sent the rest.
    expect(await firstChunk.promise).toBe('hello ');
    connection.send(chunkOf('world') + '0\r\n\r\n');
    const res = await connection.response();
    expect(res.body).toBe('got hello world');
  });

  it('lets the app stop a chunked upload at its limit without waiting for the rest', async () => {
    const server = await serve(async (request) => {
      const body = await readStreamCapped(request.body, 4 * 1024);
      return new Response(body === null ? 'too large' : 'ok', { status: body ? 200 : 413 });
    });
    const connection = await RawConnection.open(server.port);
    connection.send(
      'POST /upload HTTP/1.1\r\nHost: gate.test\r\nTransfer-Encoding: chunked\r\n\r\n' +
        chunkOf('z'.repeat(8 * 1024)),
    );
    // The upload is nowhere near finished (no last chunk sent), and the answer is there.
    const res = await connection.response();
    expect(res.status).toBe(413);
    expect(res.body).toBe('too large');
    // What is left of it is not worth reading: the connection closes after the answer.
    expect(res.header('connection')).toBe('close');
    await connection.closed;
  });

  it('streams a response chunk by chunk (server-sent events)', async () => {
    const next = deferred<void>();
    const server = await serve(() => {
      const encoder = new TextEncoder();
      const stream = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(encoder.encode('data: one\n\n'));
          await next.promise;
          controller.enqueue(encoder.encode('data: two\n\n'));
          controller.close();
        },
      });
      return new Response(stream, { headers: { 'content-type': 'text/event-stream' } });
    });
    const connection = await RawConnection.open(server.port);
    connection.send('GET /events HTTP/1.1\r\nHost: gate.test\r\n\r\n');
    const head = await connection.head();
    expect(head.status).toBe(200);
    expect(head.header('content-type')).toBe('text/event-stream');
    expect(head.header('transfer-encoding')).toBe('chunked');
    expect(await connection.chunk()).toBe('data: one\n\n');
    next.resolve();
    expect(await connection.chunk()).toBe('data: two\n\n');
    expect(await connection.chunk()).toBe('');
  });

  it('cancels a streaming response when the client goes away', async () => {
    const cancelled = deferred<unknown>();
    const server = await serve(() =>
      new Response(
        new ReadableStream<Uint8Array>({
          start: (controller) => controller.enqueue(new TextEncoder().encode('data: 1\n\n')),
          cancel: (reason) => cancelled.resolve(reason),
        }),
        { headers: { 'content-type': 'text/event-stream' } },
      )
    );
    const connection = await RawConnection.open(server.port);
    connection.send('GET /events HTTP/1.1\r\nHost: gate.test\r\n\r\n');
    await connection.head();
    expect(await connection.chunk()).toBe('data: 1\n\n');
    connection.socket.destroy();
    await cancelled.promise;
  });

  it('answers HEAD, 204 and 304 without a body and keeps the connection in step', async () => {
    const server = await serve((request) => {
      const path = new URL(request.url).pathname;
      if (path === '/none') return new Response(null, { status: 204 });
      if (path === '/same') return new Response(null, { status: 304, headers: { etag: '"1"' } });
      return new Response('the body', { headers: { 'content-length': '8' } });
    });
    const connection = await RawConnection.open(server.port);
    connection.send('HEAD /page HTTP/1.1\r\nHost: gate.test\r\n\r\n');
    const head = await connection.response('HEAD');
    expect(head.status).toBe(200);
    expect(head.header('content-length')).toBe('8');
    connection.send('GET /none HTTP/1.1\r\nHost: gate.test\r\n\r\n');
    const none = await connection.response();
    expect(none.status).toBe(204);
    expect(none.header('content-length')).toBeUndefined();
    connection.send('GET /same HTTP/1.1\r\nHost: gate.test\r\n\r\n');
    expect((await connection.response()).status).toBe(304);
    connection.send('GET /page HTTP/1.1\r\nHost: gate.test\r\n\r\n');
    expect((await connection.response()).body).toBe('the body');
    expect(connection.pending()).toBe(0);
  });

  it('answers 500 problem+json when the handler throws, logging no query or secret', async () => {
    const { logger, lines, entries } = capturedLogger();
    const server = await serve((request) => {
      if (new URL(request.url).pathname === '/sync') {
        throw new Error('connect postgres://app:hunter2@db/app failed');
      }
      return Promise.reject(new Error('async failure'));
    }, logger);
    const connection = await RawConnection.open(server.port);
    connection.send('GET /sync?token=s3cr3t HTTP/1.1\r\nHost: gate.test\r\n\r\n');
    const res = await connection.response();
    expect(res.status).toBe(500);
    expect(res.header('content-type')).toBe('application/problem+json');
    expect(JSON.parse(res.body)).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
    });
    // The connection survives the failure.
    connection.send(post('/async', 'x'.repeat(1_500)));
    expect((await connection.response()).status).toBe(500);
    expect(entries().map((entry) => [entry.msg, entry.path])).toEqual([
      ['request handler failed', '/sync'],
      ['request handler failed', '/async'],
    ]);
    expect(lines.join('\n')).not.toMatch(/hunter2|s3cr3t/);
  });

  it('answers 500 when the handler returns something that is not a Response', async () => {
    const server = await serve(() => 'nope' as unknown as Response);
    const res = await fetch(`http://127.0.0.1:${server.port}/`);
    expect(res.status).toBe(500);
  });

  it('answers 500 when a response stream fails before anything was sent', async () => {
    const server = await serve(() =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull: (controller) => controller.error(new Error('producer failed')),
        }),
      )
    );
    const res = await fetch(`http://127.0.0.1:${server.port}/`);
    expect(res.status).toBe(500);
  });

  it('cuts the connection when a response stream fails half-way', async () => {
    const fail = deferred<void>();
    const server = await serve(() =>
      new Response(
        new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(new TextEncoder().encode('partial'));
            await fail.promise;
            controller.error(new Error('producer failed'));
          },
        }),
      )
    );
    const connection = await RawConnection.open(server.port);
    connection.send('GET / HTTP/1.1\r\nHost: gate.test\r\n\r\n');
    expect((await connection.head()).status).toBe(200);
    expect(await connection.chunk()).toBe('partial');
    fail.resolve();
    // No last chunk: the client can tell the body is cut short.
    await expect(connection.chunk()).rejects.toThrow(/closed/);
    await connection.closed;
  });
});

describe('request bodies the handler does not read', () => {
  const refuse: Handler = () => new Response('no', { status: 401 });

  it('keeps the connection usable after an unread body (Content-Length)', async () => {
    let reads = 0;
    const server = await serve(async (request) => {
      if (new URL(request.url).pathname === '/refuse') return refuse(request);
      reads += 1;
      return await echoLength(request);
    });
    const connection = await RawConnection.open(server.port);
    const body = 'b'.repeat(20_000);
    connection.send(post('/refuse', body));
    expect((await connection.response()).status).toBe(401);
    connection.send(post('/next', body));
    expect((await connection.response()).body).toBe('POST /next 20000');
    expect(reads).toBe(1);
  });

  it('drains an unread chunked body that is still arriving, then serves the next request', async () => {
    const server = await serve(async (request) =>
      new URL(request.url).pathname === '/refuse' ? refuse(request) : await echoLength(request)
    );
    const connection = await RawConnection.open(server.port);
    connection.send(
      'POST /refuse HTTP/1.1\r\nHost: gate.test\r\nTransfer-Encoding: chunked\r\n\r\n' +
        chunkOf('a'.repeat(1_000)),
    );
    const refused = await connection.response();
    expect(refused.status).toBe(401);
    expect(refused.header('connection')).toBe('keep-alive');
    // The rest of the refused body arrives after the answer (denoland/deno#36821).
    connection.send(chunkOf('a'.repeat(1_000)) + '0\r\n\r\n');
    connection.send(post('/next', 'c'.repeat(2_000)));
    expect((await connection.response()).body).toBe('POST /next 2000');
  });

  it('drains a body sent with a GET, which the Request does not carry', async () => {
    let body: ReadableStream | null = new ReadableStream();
    const server = await serve((request) => {
      body = request.body;
      return new Response('ok');
    });
    const connection = await RawConnection.open(server.port);
    connection.send('GET /q HTTP/1.1\r\nHost: gate.test\r\nContent-Length: 5\r\n\r\nhello');
    expect((await connection.response()).body).toBe('ok');
    expect(body).toBeNull();
    connection.send('GET /q HTTP/1.1\r\nHost: gate.test\r\n\r\n');
    expect((await connection.response()).body).toBe('ok');
  });

  it('closes the connection cleanly when a large unread body is still to come', async () => {
    const server = await serve(refuse);
    const connection = await RawConnection.open(server.port);
    // Declared 2 MiB, only the head sent: draining that much is not worth the connection.
    connection.send(
      `POST /big HTTP/1.1\r\nHost: gate.test\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`,
    );
    const res = await connection.response();
    expect(res.status).toBe(401);
    expect(res.header('connection')).toBe('close');
    await connection.closed;
  });

  it('closes the connection when an unread chunked body goes past the drain limit', async () => {
    const server = await serve(refuse);
    const connection = await RawConnection.open(server.port);
    connection.send(
      'POST /big HTTP/1.1\r\nHost: gate.test\r\nTransfer-Encoding: chunked\r\n\r\n' +
        chunkOf('x'),
    );
    expect((await connection.response()).status).toBe(401);
    connection.send(chunkOf('y'.repeat(DRAIN_LIMIT_BYTES + 1)));
    await connection.closed;
  });

  it('sends 100 Continue for a body it reads, none for a large upload refused unread', async () => {
    const server = await serve(async (request) =>
      new URL(request.url).pathname === '/refuse' ? refuse(request) : await echoLength(request)
    );
    const reader = await RawConnection.open(server.port);
    reader.send(
      'POST /read HTTP/1.1\r\nHost: gate.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n',
    );
    expect((await reader.head()).status).toBe(100);
    reader.send('hello');
    expect((await reader.response()).body).toBe('POST /read 5');

    const refused = await RawConnection.open(server.port);
    refused.send(
      'POST /refuse HTTP/1.1\r\nHost: gate.test\r\nExpect: 100-continue\r\n' +
        `Content-Length: ${2 * 1024 * 1024}\r\n\r\n`,
    );
    const res = await refused.head();
    expect(res.status).toBe(401);
    expect(res.header('connection')).toBe('close');
  });
});

describe('client disconnects', () => {
  it('aborts request.signal when the client goes away before the answer', async () => {
    const entered = deferred<void>();
    const aborted = deferred<unknown>();
    const server = await serve(async (request) => {
      request.signal.addEventListener('abort', () => aborted.resolve(request.signal.reason));
      entered.resolve();
      await aborted.promise;
      return new Response('nobody is listening');
    });
    const connection = await RawConnection.open(server.port);
    connection.send('GET /slow HTTP/1.1\r\nHost: gate.test\r\n\r\n');
    await entered.promise;
    connection.socket.destroy();
    expect(await aborted.promise).toMatchObject({ name: 'AbortError' });
  });

  it('does not abort request.signal once the response is complete', async () => {
    let signal: AbortSignal | undefined;
    const server = await serve((request) => {
      signal = request.signal;
      return new Response('done');
    });
    const connection = await RawConnection.open(server.port);
    connection.send('GET / HTTP/1.1\r\nHost: gate.test\r\nConnection: close\r\n\r\n');
    expect((await connection.response()).body).toBe('done');
    await connection.closed;
    expect(signal!.aborted).toBe(false);
  });

  it('errors a streamed request body when the client goes away mid-upload', async () => {
    const failed = deferred<unknown>();
    const firstChunk = deferred<void>();
    const server = await serve(async (request) => {
      const reader = request.body!.getReader();
      await reader.read();
      firstChunk.resolve();
      await reader.read().catch((error) => failed.resolve(error));
      return new Response('unreachable');
    });
    const connection = await RawConnection.open(server.port);
    connection.send(
      'POST /up HTTP/1.1\r\nHost: gate.test\r\nTransfer-Encoding: chunked\r\n\r\n' +
        chunkOf('part'),
    );
    await firstChunk.promise;
    connection.socket.destroy();
    expect(await failed.promise).toBeInstanceOf(Error);
  });
});

describe('shutdown', () => {
  it('waits for an in-flight request, closes idle keep-alive connections, refuses new ones', async () => {
    const entered = deferred<void>();
    const release = deferred<void>();
    const server = await serve(async (request) => {
      if (new URL(request.url).pathname === '/slow') {
        entered.resolve();
        await release.promise;
        return new Response('finished late');
      }
      return new Response('quick');
    });
    const idle = await RawConnection.open(server.port);
    idle.send('GET /quick HTTP/1.1\r\nHost: gate.test\r\n\r\n');
    expect((await idle.response()).body).toBe('quick');
    const busy = await RawConnection.open(server.port);
    busy.send(post('/slow', 'x'.repeat(2_000)));
    await entered.promise;

    let done = false;
    const stopped = server.shutdown().then(() => (done = true));
    // The idle keep-alive connection is closed at once; shutdown waits for the slow one.
    await idle.closed;
    expect(done).toBe(false);
    await expect(RawConnection.open(server.port)).rejects.toThrow(/ECONNREFUSED/);
    release.resolve();
    const res = await busy.response();
    expect(res.body).toBe('finished late');
    expect(res.header('connection')).toBe('close');
    await stopped;
    await busy.closed;
    expect(server.shutdown()).toBe(server.shutdown());
  });

  it('resolves at once when nothing is in flight', async () => {
    const server = await serve(() => new Response('ok'));
    const idle = await RawConnection.open(server.port);
    idle.send(post('/', 'x'.repeat(1_500)));
    await idle.response();
    await server.shutdown();
    await idle.closed;
  });
});
