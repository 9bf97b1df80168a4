/**
 * One HTTP(S) request to a target the guard resolved, sent to the checked address only.
 *
 * How the pin holds: the connection is opened to the IP address itself (`host: address`),
 * so neither Node nor Deno looks anything up (a literal IP skips the resolver); the original
 * hostname travels as the `Host` header and, over TLS, as the SNI `servername`, which is also
 * the name the certificate is verified against. This uses only `node:http`/`node:https`
 * options both runtimes honour. A `lookup` override returning the pinned address works too
 * under Node and Deno 2.9, but Deno 2.7.9 and earlier threw "Not implemented" for it, and an
 * edge runtime built on such a Deno would too; an IP host needs no resolver at all.
 * runtimes.test.ts runs the same scenarios under Node and under Deno (allowed to reach
 * 127.0.0.1 only). Under Deno, node:https also reads env and sys information (the system's
 * extra CA certificates) on each connection, so it needs those permissions.
 *
 * Never follows redirects (a 3xx is a result), gives the whole request one deadline, and
 * reads at most `maxExcerptBytes` of the body before closing the connection.
 *
 * Connections are kept open between requests to the same destination: the checked
 * address, port and, over TLS, the name the certificate was verified for (one connection
 * pool per destination, so a connection is only ever reused for what it was checked and
 * verified as). A connection whose answer was cut off, failed or timed out is closed, never
 * reused; one left idle for IDLE_CONNECTION_MS is closed (below the 5 s after which Node's
 * and many other servers close an idle connection themselves).
 */
import {
  Agent as HttpAgent,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request as httpRequest,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { type FailureReason, OutboundRequestFailed } from './errors.ts';
import type { ResolvedTarget } from './guard.ts';
import { parseIp } from './ranges.ts';

export const DEFAULT_TIMEOUT_MS = 15_000;
export const DEFAULT_EXCERPT_BYTES = 4_096;
/** An idle kept-open connection is closed after this long. */
export const IDLE_CONNECTION_MS = 4_000;
/** The most connections open to one destination (an endpoint's max_in_flight is at most 64). */
const CONNECTIONS_PER_DESTINATION = 64;
/** The most destinations with a connection pool; the least recently used goes first. */
const DESTINATIONS_KEPT = 256;

const pools = new Map<string, HttpAgent>();

/** The connection pool for one checked destination (`http(s)://address:port/tls-name`). */
function poolFor(key: string, secure: boolean): HttpAgent {
  let agent = pools.get(key);
  if (agent) {
    pools.delete(key); // re-inserted below: the map's order is least recently used first
  } else {
    const settings = {
      keepAlive: true,
      maxSockets: CONNECTIONS_PER_DESTINATION,
      maxFreeSockets: CONNECTIONS_PER_DESTINATION,
      timeout: IDLE_CONNECTION_MS,
    };
    agent = secure ? new HttpsAgent(settings) : new HttpAgent(settings);
  }
  pools.set(key, agent);
  if (pools.size > DESTINATIONS_KEPT) {
    const [oldest, evicted] = pools.entries().next().value!;
    pools.delete(oldest);
    evicted.destroy();
  }
  return agent;
}

/** What a kept-open connection was checked and verified as (and the roots it trusted). */
function destinationKey(
  protocol: string,
  address: string,
  port: number,
  servername: string,
  ca: string | readonly string[] | undefined,
): string {
  const roots = ca === undefined ? '' : ` ${[ca].flat().join('')}`;
  return `${protocol}//${address}:${port}/${servername}${roots}`;
}

/** Closes every kept-open connection (a worker stopping, a test ending). */
export function closeIdleConnections(): void {
  for (const agent of pools.values()) agent.destroy();
  pools.clear();
}

export interface PinnedRequestOptions {
  /** `GET` unless given. */
  readonly method?: string;
  /** Sent as given, except `Host`, which is always the target URL's host. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent with a `Content-Length`. */
  readonly body?: string | Uint8Array;
  /** Deadline for the whole request: connect, TLS, headers and the excerpt's body read. */
  readonly timeoutMs?: number;
  /** Most body bytes read (and kept) for the excerpt; the rest is never read. */
  readonly maxExcerptBytes?: number;
  /** Aborts the request (reason `aborted`). */
  readonly signal?: AbortSignal;
  /** PEM certificates trusted instead of the system's roots (tests, an internal CA). */
  readonly ca?: string | readonly string[];
}

export interface PinnedResponse {
  readonly status: number;
  /** Lower-case names; repeated headers joined with `, `. `retry-after` among them when sent. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body's first `maxExcerptBytes` bytes as UTF-8 (a character cut in two is dropped). */
  readonly excerpt: string;
  /** Whether the body went on past the excerpt (and was not read). */
  readonly truncated: boolean;
  readonly durationMs: number;
}

type Phase = 'connect' | 'tls' | 'response' | 'body';

/**
 * Sends one request to `target.address` with `target.url`'s host as `Host` and TLS name.
 * Resolves with any HTTP response (3xx included: redirects are not followed); rejects with
 * {@link OutboundRequestFailed} (`timeout`, `connect`, `tls`, `reset`, `protocol`, `aborted`).
 *
 * @example
 * ```ts
 * const target = await resolveTarget(endpoint.url, policy);
 * const response = await pinnedRequest(target, { method: 'POST', headers, body });
 * if (response.status >= 200 && response.status < 300) ...
 * ```
 */
export function pinnedRequest(
  target: ResolvedTarget,
  options: PinnedRequestOptions = {},
): Promise<PinnedResponse> {
  const { url, address } = target;
  const host = url.hostname;
  const secure = url.protocol === 'https:';
  const method = (options.method ?? 'GET').toUpperCase();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = Math.max(0, options.maxExcerptBytes ?? DEFAULT_EXCERPT_BYTES);
  const port = Number(url.port || (secure ? 443 : 80));
  const started = performance.now();

  return new Promise<PinnedResponse>((resolve, reject) => {
    let phase: Phase = 'connect';
    let settled = false;
    const settle = () => {
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (reason: FailureReason, detail: string, code?: string, cause?: unknown) => {
      if (settled) return;
      settle();
      reject(
        new OutboundRequestFailed(reason, `${method} ${host}: ${detail}`, host, code, { cause }),
      );
      request.destroy();
    };
    const onAbort = () => fail('aborted', 'aborted by the caller');

    // SNI and the certificate check use the name; a literal IP is checked as an IP.
    const servername = parseIp(host) === undefined ? host.replace(/\.$/, '') : '';
    const common = {
      host: address,
      port,
      method,
      path: `${url.pathname}${url.search}`,
      headers: requestHeaders(url, options),
      agent: poolFor(destinationKey(url.protocol, address, port, servername, options.ca), secure),
    };
    const request = secure
      ? httpsRequest({
        ...common,
        servername,
        rejectUnauthorized: true,
        ...(options.ca === undefined ? {} : { ca: options.ca as string | string[] }),
      })
      : httpRequest(common);

    // An error the request reports after it settled (the socket torn down) changes nothing.
    request.on('error', (error: Error & { code?: string }) => {
      const { reason, detail } = describeFailure(error, phase, `${address}:${port}`);
      fail(reason, detail, error.code, error);
    });
    request.on('socket', (socket) => {
      // A kept-open connection is connected (and verified) already; it says so no more.
      if (!socket.connecting) {
        phase = 'response';
        return;
      }
      const connected = () => {
        if (phase === 'connect') phase = secure ? 'tls' : 'response';
      };
      const verified = () => {
        if (phase === 'tls') phase = 'response';
      };
      socket.once('connect', connected);
      socket.once('secureConnect', verified);
      // Whatever came of it, the connection may live on for other requests: leave it clean.
      request.once('close', () => {
        socket.off('connect', connected);
        socket.off('secureConnect', verified);
      });
    });
    request.on('response', (response: IncomingMessage) => {
      phase = 'body';
      const chunks: Uint8Array[] = [];
      let received = 0;
      const done = (truncated: boolean) => {
        if (settled) return;
        settle();
        resolve({
          status: response.statusCode ?? 0,
          headers: flattenHeaders(response.headers),
          excerpt: decodeExcerpt(chunks, maxBytes, truncated),
          truncated,
          durationMs: Math.round(performance.now() - started),
        });
        // Whatever is left of the body is not read: the connection goes.
        if (truncated) response.destroy();
      };
      response.on('data', (chunk: Uint8Array) => {
        if (settled) return;
        chunks.push(chunk);
        received += chunk.byteLength;
        if (received > maxBytes) done(true);
      });
      response.on('end', () => done(false));
      response.on('error', (error: Error & { code?: string }) => {
        fail('reset', 'the connection broke while reading the body', error.code, error);
      });
      response.on('close', () => fail('reset', 'the connection closed before the body ended'));
    });

    const timer = setTimeout(
      () => fail('timeout', `no complete response within ${timeoutMs} ms`),
      timeoutMs,
    );
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    request.end(options.body);
  });
}

function requestHeaders(url: URL, options: PinnedRequestOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (name.toLowerCase() !== 'host') headers[name] = value;
  }
  headers.host = url.host;
  const hasLength = Object.keys(headers).some((name) => name.toLowerCase() === 'content-length');
  if (options.body !== undefined && !hasLength) {
    const bytes = typeof options.body === 'string'
      ? new TextEncoder().encode(options.body).byteLength
      : options.body.byteLength;
    headers['content-length'] = String(bytes);
  }
  return headers;
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

function decodeExcerpt(chunks: Uint8Array[], maxBytes: number, truncated: boolean): string {
  const bytes = new Uint8Array(Math.min(maxBytes, chunks.reduce((n, c) => n + c.byteLength, 0)));
  let offset = 0;
  for (const chunk of chunks) {
    if (offset >= bytes.length) break;
    const part = chunk.subarray(0, bytes.length - offset);
    bytes.set(part, offset);
    offset += part.byteLength;
  }
  // Streaming mode holds back a character cut at the end instead of writing U+FFFD for it.
  return new TextDecoder().decode(bytes, { stream: truncated });
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'EADDRNOTAVAIL',
  'ETIMEDOUT',
]);
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|EPROTO$)/;

/** The reason from the platform's error code where it says, otherwise from how far it got. */
function describeFailure(
  error: Error & { code?: string },
  phase: Phase,
  destination: string,
): { reason: FailureReason; detail: string } {
  const code = error.code ?? '';
  const why = code === '' ? error.message : `${code}: ${error.message}`;
  if (code.startsWith('HPE_')) return { reason: 'protocol', detail: `not an HTTP answer (${why})` };
  if (TLS_CODE.test(code) || phase === 'tls') {
    return { reason: 'tls', detail: `TLS handshake failed (${why})` };
  }
  if (CONNECT_CODES.has(code) || phase === 'connect') {
    return { reason: 'connect', detail: `cannot connect to ${destination} (${why})` };
  }
  return { reason: 'reset', detail: `the connection closed before a complete response (${why})` };
}
