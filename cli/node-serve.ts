/**
 * The local server's HTTP/1.1 front on `node:http` (a `Serve` for `startGatehouse`): each
 * IncomingMessage becomes a Web `Request`, the handler's `Response` is written back. Runs
 * under Deno (the local server) and Node (the tests).
 */
import { Buffer } from 'node:buffer';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { clearImmediate, setImmediate } from 'node:timers';
import { createLogger, type Logger } from '../functions/_shared/log/index.ts';
import { concatBytes } from '../functions/_shared/streams/index.ts';
import type { HttpServer } from './start.ts';

/**
 * Connection timeouts, in milliseconds. An idle keep-alive connection is closed after
 * KEEP_ALIVE (a client that sends again within it reuses the connection); a client gets
 * HEADERS to send its request line and headers and REQUEST for the whole request, body
 * included (slow-sender protection; the largest body we take, 3 MiB, needs ~50 KiB/s).
 * A response that is still streaming (server-sent events) has no time limit.
 */
export const SERVER_TIMEOUTS_MS = { keepAlive: 5_000, headers: 20_000, request: 60_000 } as const;

/** A request body declaring at most this many bytes is read whole before the handler runs. */
export const BUFFERED_BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * A request body the handler left unread (an early 4xx) is read and discarded up to this
 * many bytes so the connection stays usable; past it the connection is closed.
 */
export const DRAIN_LIMIT_BYTES = 64 * 1024;

/**
 * A response body whose chunks are all there before the next event-loop turn (a string or
 * bytes body) is sent in one write with Content-Length, up to this size; anything else is
 * streamed chunk by chunk.
 */
const COLLECTED_BODY_LIMIT_BYTES = 1024 * 1024;

export interface NodeServeOptions {
  readonly hostname: string;
  /** 0 picks a free port; `HttpServer.port` tells which. */
  readonly port: number;
  /** Where handler failures are reported (redacted JSON lines); defaults to stderr. */
  readonly logger?: Logger;
}

type Handler = (request: Request) => Response | Promise<Response>;

/** What the adapter knows about one request's body while it is being answered. */
interface BodyState {
  /** Content-Length as declared; null when chunked or absent. */
  readonly declared: number | null;
  /** Whether bytes follow the head at all (a declared length above 0, or chunked). */
  readonly present: boolean;
  /** The client sent `Expect: 100-continue` and has not been told to go on yet. */
  awaitingContinue: boolean;
  /** Body bytes received so far. */
  received: number;
  /** The handler is done with the body: whatever still arrives is thrown away. */
  discarding: boolean;
  /** What is left of the body is being drained (or the connection closed for it). */
  settled: boolean;
}

const NO_BODY_METHODS = new Set(['GET', 'HEAD']);

/** Responses whose connection has closed (finished or not). */
const closedResponses = new WeakSet<ServerResponse>();

function gone(res: ServerResponse): boolean {
  return res.destroyed || closedResponses.has(res);
}

/**
 * Listens on `options.hostname:port` and answers every request with `handler`; resolves
 * once listening. `shutdown()` stops accepting, closes idle keep-alive connections, lets
 * in-flight requests finish (their connections close after the response) and resolves
 * when they have.
 *
 * @example
 * const server = await serveWithNode({ hostname: '127.0.0.1', port: 0 }, app.fetch);
 * console.log(server.port);
 * await server.shutdown();
 */
export function serveWithNode(options: NodeServeOptions, handler: Handler): Promise<HttpServer> {
  const logger = options.logger ??
    createLogger({ level: 'error', base: { service: 'gatehouse', component: 'http' } });
  const server = createServer({
    keepAliveTimeout: SERVER_TIMEOUTS_MS.keepAlive,
    headersTimeout: SERVER_TIMEOUTS_MS.headers,
    requestTimeout: SERVER_TIMEOUTS_MS.request,
    noDelay: true,
  });
  const fallbackHost = options.hostname.includes(':') ? `[${options.hostname}]` : options.hostname;

  // Requests in flight per open connection, to tell idle connections from busy ones.
  const connections = new Map<Socket, number>();
  let inFlight = 0;
  let closing = false;
  let onIdle: (() => void) | undefined;
  let port = options.port;

  server.on('connection', (socket: Socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    connections.set(socket, 0);
    socket.once('close', () => connections.delete(socket));
  });

  const context: AnswerContext = {
    handler,
    logger,
    origin: () => `${fallbackHost}:${port}`,
    closing: () => closing,
  };
  const serve = async (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean) => {
    const socket = req.socket;
    const requests = connections.get(socket);
    if (requests !== undefined) connections.set(socket, requests + 1);
    inFlight += 1;
    try {
      await answer(req, res, expectsContinue, context);
    } catch {
      // answer() reports what it can; a failure past that (the connection breaking while
      // an error answer is written) must not become an unhandled rejection.
      res.destroy();
    } finally {
      inFlight -= 1;
      const left = (connections.get(socket) ?? 1) - 1;
      if (connections.has(socket)) connections.set(socket, left);
      // Shutting down: the connection closes once its last response is out.
      if (closing && left === 0) socket.destroy();
      if (inFlight === 0) onIdle?.();
    }
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => void serve(req, res, false));
  // Handled here rather than by node:http, which would send 100 Continue at once: a body
  // read whole up front (see BUFFERED_BODY_LIMIT_BYTES) is invited straight away, a larger
  // one only when the handler starts reading it, so a refused upload is never invited.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    void serve(req, res, true);
  });

  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const [socket, requests] of connections) if (requests === 0) socket.destroy();
      if (inFlight > 0) await new Promise<void>((resolve) => (onIdle = resolve));
      for (const socket of connections.keys()) socket.destroy();
      await closed;
    })();
    return stopping;
  };

  return new Promise<HttpServer>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.hostname, () => {
      server.off('error', reject);
      // Once listening, an error (accept failing for lack of file descriptors) is reported,
      // not thrown: the server goes on with the connections it has.
      server.on('error', (error) => logger.error('http server error', { error }));
      const address = server.address();
      if (address !== null && typeof address === 'object') port = address.port;
      resolve({ port, shutdown });
    });
  });
}

interface AnswerContext {
  readonly handler: Handler;
  readonly logger: Logger;
  /** `host:port` for a request without a Host header (HTTP/1.0). */
  readonly origin: () => string;
  readonly closing: () => boolean;
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  expectsContinue: boolean,
  context: AnswerContext,
): Promise<void> {
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  const declared = !chunked && length !== undefined ? Number(length) : null;
  const body: BodyState = {
    declared,
    present: chunked || (declared !== null && declared > 0),
    awaitingContinue: expectsContinue,
    received: 0,
    discarding: false,
    settled: false,
  };
  const method = req.method ?? 'GET';
  const aborter = new AbortController();
  res.once('close', () => {
    closedResponses.add(res);
    // The client went away before the whole response was sent.
    if (!res.writableFinished) aborter.abort(new DOMException('client disconnected', 'AbortError'));
  });

  try {
    const url = requestUrl(req, context.origin);
    if (url === null) return await writeProblem(req, res, body, 400, 'Bad Request');
    let content: Uint8Array | ReadableStream<Uint8Array> | null = null;
    if (body.present && !NO_BODY_METHODS.has(method)) {
      if (declared !== null && declared <= BUFFERED_BODY_LIMIT_BYTES) {
        if (body.awaitingContinue) sendContinue(res, body);
        content = await readWhole(req, body);
        if (content === null) return; // the client left mid-body
      } else {
        content = streamBody(req, res, body);
      }
    }
    let request: Request;
    try {
      request = new Request(url, {
        method,
        headers: headersOf(req.rawHeaders),
        body: content,
        signal: aborter.signal,
        duplex: 'half',
      } as RequestInit);
    } catch {
      // A header value or method a Request refuses (e.g. TRACE).
      return await writeProblem(req, res, body, 400, 'Bad Request');
    }

    let response: Response;
    try {
      response = await context.handler(request);
      if (!(response instanceof Response)) throw new TypeError('handler did not return a Response');
    } catch (error) {
      context.logger.error('request handler failed', { method, path: pathOf(req), error });
      response = problem(500, 'Internal Server Error');
    }
    if (gone(res)) {
      await response.body?.cancel().catch(() => {});
      return;
    }
    await writeResponse(req, res, response, body, context);
  } catch (error) {
    // Writing failed (a body stream that errored, a header node:http refused). Before the
    // head went out that is a 500; after it the response cannot be repaired, so the
    // connection is cut and the client sees a truncated answer, not a wrong one.
    if (!res.headersSent && !gone(res)) {
      context.logger.error('response could not be sent', { method, path: pathOf(req), error });
      await writeProblem(req, res, body, 500, 'Internal Server Error');
    } else {
      res.destroy();
    }
  } finally {
    settleBody(req, res, body);
  }
}

/** `http://<Host or hostname:port><path>`; null when the target or Host is unusable. */
function requestUrl(req: IncomingMessage, origin: () => string): string | null {
  const target = req.url ?? '/';
  const host = req.headers.host ?? origin();
  // A Host holding URL delimiters would let the client rewrite the path.
  if (!/^[^\s/?#@\\]+$/.test(host)) return null;
  if (target.startsWith('/')) return `http://${host}${target}`;
  // Absolute form (`POST http://host/path HTTP/1.1`): its authority replaces Host.
  if (/^https?:\/\//i.test(target)) {
    try {
      const url = new URL(target);
      return `http://${url.host}${url.pathname}${url.search}`;
    } catch {
      return null;
    }
  }
  return null;
}

function pathOf(req: IncomingMessage): string {
  // The query is left out: it can carry tokens (hub.verify_token).
  return (req.url ?? '/').split('?')[0]!;
}

function headersOf(raw: string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return headers;
}

function sendContinue(res: ServerResponse, body: BodyState): void {
  body.awaitingContinue = false;
  if (!res.headersSent && !gone(res)) res.writeContinue();
}

/** The whole body as one buffer; null when the client disconnected before sending it. */
function readWhole(req: IncomingMessage, body: BodyState): Promise<Uint8Array | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      body.received += chunk.byteLength;
    });
    req.once('end', () => {
      const whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, body.received);
      resolve(new Uint8Array(whole.buffer, whole.byteOffset, whole.byteLength));
    });
    req.once('error', () => resolve(null));
    req.once('close', () => resolve(null)); // after 'end' this changes nothing
  });
}

/**
 * The body as a stream that reads from the connection only when the handler pulls, one
 * chunk at a time, so a body limit enforced while reading holds without the adapter ever
 * holding the whole upload.
 */
function streamBody(
  req: IncomingMessage,
  res: ServerResponse,
  body: BodyState,
): ReadableStream<Uint8Array> {
  let flowing = false;
  let settled = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const fail = () => {
        if (settled) return;
        settled = true;
        controller.error(new Error('the client disconnected before the request body ended'));
      };
      req.once('end', () => {
        if (settled) return;
        settled = true;
        controller.close();
      });
      req.once('error', fail);
      req.once('close', () => {
        if (!req.complete) fail();
      });
    },
    pull(controller) {
      if (body.awaitingContinue) sendContinue(res, body);
      if (flowing) {
        req.resume();
        return;
      }
      flowing = true;
      req.on('data', (chunk: Buffer) => {
        body.received += chunk.byteLength;
        if (body.discarding || settled) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) req.pause();
      });
    },
    cancel() {
      body.discarding = true;
      settled = true;
    },
  }, { highWaterMark: 0 });
}

/**
 * Once the response is complete (the handler cannot want the body any more): what it did
 * not read of the body is discarded, up to DRAIN_LIMIT_BYTES, so the next request on the
 * connection is parsed; past that the connection is closed. node:http under Deno stalls
 * keep-alive on an unread body otherwise (denoland/deno#36821), and node:http under Node
 * would read and discard any amount if we left it to it.
 */
function settleBody(req: IncomingMessage, res: ServerResponse, body: BodyState): void {
  if (body.settled) return;
  body.settled = true;
  if (!body.present || req.complete || req.socket.destroyed) return;
  body.discarding = true;
  let drained = 0;
  const drain = (chunk: Buffer) => {
    drained += chunk.byteLength;
    if (drained <= DRAIN_LIMIT_BYTES) return;
    req.off('data', drain);
    req.pause();
    // Not before the response is out: closing now could drop its last bytes.
    const cut = () => req.socket.destroy();
    if (res.writableFinished || gone(res)) cut();
    else {
      res.once('finish', cut);
      res.once('close', cut);
    }
  };
  req.on('data', drain);
  req.on('error', () => {});
  req.resume();
}

/** Whether the connection must close after this response rather than be kept alive. */
function mustClose(req: IncomingMessage, body: BodyState, closing: boolean): boolean {
  if (closing) return true;
  if (!body.present || req.complete) return false;
  // Never told to send its body, the client may or may not send it: the stream is lost.
  if (body.awaitingContinue) return true;
  // The handler gave up on the body part-way (over its size limit): more is likely to come.
  if (body.discarding) return true;
  return body.declared !== null && body.declared - body.received > DRAIN_LIMIT_BYTES;
}

function nodeHeaders(headers: Headers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  // forEach, not for...of: Deno's Headers iterator sorts the list again on every step
  // (about 15 µs for a response's dozen headers against about 1 µs).
  headers.forEach((value, name) => {
    if (name === 'set-cookie') {
      const cookies = out[name];
      if (Array.isArray(cookies)) cookies.push(value);
      else out[name] = [value];
    } else {
      out[name] = value;
    }
  });
  // node:http frames the body itself.
  delete out['transfer-encoding'];
  return out;
}

async function writeResponse(
  req: IncomingMessage,
  res: ServerResponse,
  response: Response,
  body: BodyState,
  context: AnswerContext,
): Promise<void> {
  const status = response.status;
  const headers = nodeHeaders(response.headers);
  const close = () => {
    if (mustClose(req, body, context.closing())) headers.connection = 'close';
  };
  const settle = () => settleBody(req, res, body);
  const stream = response.body;
  if (req.method === 'HEAD' || status === 204 || status === 304) {
    // No body on the wire; a HEAD keeps the Content-Length the handler gave it.
    if (status === 204) delete headers['content-length'];
    await stream?.cancel().catch(() => {});
    close();
    res.writeHead(status, headers);
    return await end(res, settle);
  }
  if (stream === null) {
    headers['content-length'] = '0';
    close();
    res.writeHead(status, headers);
    return await end(res, settle);
  }

  const reader = stream.getReader();
  const onGone = () => void reader.cancel().catch(() => {});
  res.once('close', onGone);
  try {
    // Take every chunk that is already there before the next turn of the event loop: a
    // string or bytes body arrives whole and goes out in one write with Content-Length.
    let nextTurn!: () => void;
    const turned = new Promise<'turn'>((resolve) => (nextTurn = () => resolve('turn')));
    const immediate = setImmediate(nextTurn);
    const collected: Uint8Array[] = [];
    let size = 0;
    let pending = reader.read();
    try {
      for (;;) {
        const result = await Promise.race([pending, turned]);
        if (result === 'turn') break;
        if (result.done) {
          headers['content-length'] = String(size);
          close();
          res.writeHead(status, headers);
          const whole = collected.length === 1 ? collected[0] : concatBytes(collected, size);
          return await end(res, settle, whole);
        }
        collected.push(chunkOf(result.value));
        size += result.value.byteLength;
        pending = reader.read();
        if (size > COLLECTED_BODY_LIMIT_BYTES) break;
      }
    } finally {
      clearImmediate(immediate);
    }

    // A body still being produced (server-sent events, a file): chunked, each chunk sent
    // as it comes. A Content-Length the handler set is kept and held to.
    close();
    res.strictContentLength = true;
    res.writeHead(status, headers);
    res.flushHeaders();
    for (const chunk of collected) await write(res, chunk);
    for (;;) {
      const result = await pending;
      if (result.done) break;
      if (gone(res)) return;
      await write(res, chunkOf(result.value));
      pending = reader.read();
    }
    await end(res, settle);
  } finally {
    // The reader is dropped, not released: releasing rejects its `closed` promise with a
    // new TypeError, whose stack trace made it the dearest step of a small response.
    res.off('close', onGone);
  }
}

function chunkOf(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw new TypeError('a response body chunk is not a Uint8Array');
}

/** Resolves on the response's first `event`, or when its connection closes. */
function eventOrClose(res: ServerResponse, event: 'drain' | 'finish'): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off(event, done);
      res.off('close', done);
      resolve();
    };
    res.on(event, done);
    res.on('close', done);
  });
}

/** Writes a chunk, waiting while the connection's buffer is full. */
function write(res: ServerResponse, chunk: Uint8Array): Promise<void> {
  if (gone(res)) return Promise.resolve();
  if (res.write(chunk)) return Promise.resolve();
  return eventOrClose(res, 'drain');
}

/**
 * Ends the response (`settle` runs just before: see settleBody); resolves once it is handed
 * to the connection or the connection is gone.
 */
function end(res: ServerResponse, settle: () => void, chunk?: Uint8Array): Promise<void> {
  settle();
  if (gone(res)) return Promise.resolve();
  const ended = eventOrClose(res, 'finish');
  if (chunk === undefined) res.end();
  else res.end(chunk);
  return ended;
}

function problem(status: number, title: string): Response {
  return new Response(JSON.stringify({ type: 'about:blank', title, status }), {
    status,
    headers: { 'content-type': 'application/problem+json' },
  });
}

/** A problem answer of the adapter's own; the connection closes after it. */
async function writeProblem(
  req: IncomingMessage,
  res: ServerResponse,
  body: BodyState,
  status: number,
  title: string,
): Promise<void> {
  const text = JSON.stringify({ type: 'about:blank', title, status });
  res.writeHead(status, {
    'content-type': 'application/problem+json',
    'content-length': String(Buffer.byteLength(text)),
    connection: 'close',
  });
  await end(res, () => settleBody(req, res, body), new TextEncoder().encode(text));
}
