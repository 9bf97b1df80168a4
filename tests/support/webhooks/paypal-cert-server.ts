/**
 * Test-only stand-in for PayPal's certificate host: a local HTTP server that serves PEM
 * documents by path, plus the `fetch` seam that sends `https://api(.sandbox).paypal.com/...`
 * to it. The verifier insists on https and PayPal hosts, so the seam rewrites only the
 * origin; path, method, redirect policy and abort signal go through unchanged.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FetchLike } from '../../../functions/_shared/webhooks/paypal/verify.ts';

export const PAYPAL_TEST_CERT_HOSTS = ['api.paypal.com', 'api.sandbox.paypal.com'];

export interface StubResponse {
  status?: number;
  body?: string;
  headers?: Record<string, string>;
  /** Accept the request and never answer (for timeouts). */
  hang?: boolean;
}

export interface PayPalCertServer {
  /** e.g. `http://127.0.0.1:43817` */
  origin: string;
  /** A `fetch` that maps PayPal hosts to this server and refuses every other URL. */
  fetch: FetchLike;
  /** What to answer at `path`; unknown paths answer 404. */
  serve(path: string, response: StubResponse): void;
  /** Requests received for `path` so far. */
  requestCount(path: string): number;
  /** Resolves once `count` requests in all have arrived. */
  waitForRequests(count: number): Promise<void>;
  /** Holds every answer until the returned function is called. */
  hold(): () => void;
  close(): Promise<void>;
}

/**
 * Starts the stub on an ephemeral port of 127.0.0.1.
 *
 * @example
 * ```ts
 * const server = await startPayPalCertServer();
 * server.serve('/v1/notifications/certs/CERT-1', { body: pem });
 * const verifier = createPayPalVerifier({ ..., fetch: server.fetch });
 * ```
 */
export async function startPayPalCertServer(): Promise<PayPalCertServer> {
  const routes = new Map<string, StubResponse>();
  const counts = new Map<string, number>();
  const waiters: { count: number; resolve: () => void }[] = [];
  let total = 0;
  let held: Promise<void> = Promise.resolve();

  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://stub').pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    total += 1;
    for (const waiter of waiters.filter((waiter) => total >= waiter.count)) waiter.resolve();
    void held.then(() => answer(response, routes.get(path) ?? { status: 404, body: 'not found' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    fetch: createPayPalTestFetch(origin),
    serve: (path, response) => routes.set(path, response),
    requestCount: (path) => counts.get(path) ?? 0,
    waitForRequests: (count) =>
      total >= count
        ? Promise.resolve()
        : new Promise((resolve) => waiters.push({ count, resolve })),
    hold() {
      let release!: () => void;
      held = new Promise((resolve) => release = resolve);
      return release;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve, reject) =>
        server.close((error) => error ? reject(error) : resolve())
      );
    },
  };
}

/**
 * The seam: `https://<PayPal host>/<path>` → `<origin>/<path>`. Any other URL throws, so a
 * verifier that fetched something it should have refused fails its test loudly.
 *
 * @example
 * ```ts
 * const fetchToClosedPort = createPayPalTestFetch('http://127.0.0.1:9');
 * ```
 */
export function createPayPalTestFetch(origin: string): FetchLike {
  return (url, init) => {
    const target = new URL(url);
    if (target.protocol !== 'https:' || !PAYPAL_TEST_CERT_HOSTS.includes(target.host)) {
      return Promise.reject(new Error(`test fetch refused ${url}`));
    }
    return fetch(`${origin}${target.pathname}${target.search}`, init);
  };
}

function answer(response: ServerResponse, stub: StubResponse): void {
  if (stub.hang) return;
  response.writeHead(stub.status ?? 200, {
    'content-type': 'application/x-pem-file',
    ...stub.headers,
  });
  response.end(stub.body ?? '');
}
