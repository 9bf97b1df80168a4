/**
 * The local server's HTTP front: `Deno.serve` (a `Serve` for `startGatehouse`). Deno is
 * pinned at 2.9.6 or later because 2.8.3–2.9.5 answered `Connection: close` to every
 * request with a body over ~400 bytes (denoland/deno#36657), which cost each webhook
 * delivery a new connection; `tests/local-server.test.ts` checks keep-alive.
 */
import type { HttpServer } from '../start.ts';

export async function serveWithDeno(
  options: { hostname: string; port: number },
  handler: (request: Request) => Response | Promise<Response>,
): Promise<HttpServer> {
  const { promise: listening, resolve: onListen } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({ ...options, onListen: (address) => onListen(address) }, handler);
  const address = await listening;
  return { port: address.port, shutdown: () => server.shutdown() };
}
