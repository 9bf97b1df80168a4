import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One request a receiver got, as it arrived. */
export interface Received {
  readonly method: string;
  readonly path: string;
  readonly host: string | undefined;
  readonly body: string;
}

/**
 * A local webhook receiver (HTTP, or HTTPS with `tls`) on 127.0.0.1, answering by path:
 * `/ok` 200 `hello`, `/redirect` 302 to `/landed`, `/busy` 503 with `Retry-After: 120`,
 * `/large` 1 MiB of `a`, `/endless` a body that never ends, `/stall` headers and 5 bytes then
 * nothing, `/utf8` `é` repeated, anything else 404. Every request is recorded in `received`;
 * `endlessClosed` resolves with the bytes written once an `/endless` client has hung up.
 */
export interface Receiver {
  readonly port: number;
  readonly received: Received[];
  readonly endlessClosed: Promise<number>;
  /** How many connections clients have opened to it so far. */
  connections(): number;
  close(): Promise<void>;
}

export async function startReceiver(tls?: { key: string; cert: string }): Promise<Receiver> {
  const received: Received[] = [];
  const sockets = new Set<Socket>();
  let endlessClosed!: (written: number) => void;
  const closed = new Promise<number>((resolve) => (endlessClosed = resolve));
  const handler = async (request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    for await (const chunk of request) body += chunk;
    const path = request.url ?? '';
    received.push({ method: request.method ?? '', path, host: request.headers.host, body });
    switch (path.split('?')[0]) {
      case '/ok':
        return response.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
      case '/redirect':
        return response.writeHead(302, { location: '/landed' }).end('moved');
      case '/busy':
        return response.writeHead(503, { 'retry-after': '120' }).end('try later');
      case '/large':
        return response.writeHead(200).end('a'.repeat(1 << 20));
      case '/utf8':
        return response.writeHead(200).end('é'.repeat(5_000));
      case '/stall':
        response.writeHead(200);
        return void response.write('start');
      case '/endless': {
        response.writeHead(200);
        const chunk = new Uint8Array(16_384).fill(97);
        let written = 0;
        const pump = () => {
          let more = true;
          while (more && !response.destroyed) {
            more = response.write(chunk);
            written += chunk.byteLength;
          }
        };
        response.on('drain', pump);
        response.on('close', () => endlessClosed(written));
        return pump();
      }
      default:
        return response.writeHead(404).end('no such path');
    }
  };
  const server: Server = tls ? createHttpsServer(tls, handler) : createHttpServer(handler);
  let opened = 0;
  server.on('connection', (socket: Socket) => {
    opened += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    received,
    endlessClosed: closed,
    connections: () => opened,
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
      }),
  };
}

export const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** A self-signed certificate (made by OpenSSL) for `dns` names and `ip` addresses. */
export function selfSignedCertificate(dns: string[], ip: string[]): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'outbound-cert-'));
  try {
    const names = [...dns.map((name) => `DNS:${name}`), ...ip.map((address) => `IP:${address}`)];
    execFileSync('openssl', [
      'req',
      '-x509',
      '-nodes',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-subj',
      `/CN=${dns[0] ?? ip[0]}`,
      '-addext',
      `subjectAltName=${names.join(',')}`,
      '-days',
      '2',
    ], { stdio: 'ignore' });
    return {
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
