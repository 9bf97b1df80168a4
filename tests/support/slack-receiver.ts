// A Slack incoming webhook as Slack runs one, on loopback: POST a JSON body with `text` to
// the hook's secret path → 200 `ok`; a body without text → 400 `invalid_payload`; an
// unknown path → 404 `no_service`; and any status the test asks for next (an outage,
// a 429 with Retry-After).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackReceiver {
  /** The incoming-webhook URL (its path is the hook's secret). */
  readonly url: string;
  /** The `text` of every message accepted, in order. */
  readonly messages: string[];
  /** Statuses to answer the next requests with instead of accepting them. */
  readonly failNext: number[];
  /** The status of every answer to a request on the hook's path, in order. */
  readonly answered: number[];
  close(): Promise<void>;
}

export async function startSlackReceiver(): Promise<SlackReceiver> {
  const path = `/services/T0000/B0000/${crypto.randomUUID().replaceAll('-', '')}`;
  const messages: string[] = [];
  const failNext: number[] = [];
  const answered: number[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const reply = (status: number, text: string, headers: Record<string, string> = {}) =>
        response.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(text);
      if (request.method !== 'POST' || request.url !== path) return reply(404, 'no_service');
      const original = reply;
      const answer = (status: number, text: string, headers?: Record<string, string>) => {
        answered.push(status);
        original(status, text, headers);
      };
      const forced = failNext.shift();
      if (forced === 429) return answer(429, 'rate_limited', { 'retry-after': '1' });
      if (forced !== undefined) return answer(forced, 'error');
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return answer(400, 'invalid_payload');
      }
      const text = (body as { text?: unknown } | null)?.text;
      if (typeof text !== 'string' || text === '') return answer(400, 'no_text');
      messages.push(text);
      answer(200, 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    messages,
    failNext,
    answered,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
