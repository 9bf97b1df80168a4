// An outbound webhook receiver as a partner would run one, on loopback: every POST is
// verified with the `standardwebhooks` package against the secrets the test gives it (any
// one verifying is enough, as during a rotation), recorded, and answered 200 unless the test
// scripted another answer (a status, headers, a delay, or no answer at all).
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  readonly id: string;
  readonly timestamp: string;
  /** How many `v1,` signatures the request carried. */
  readonly signatures: number;
  /** The secrets (by index in `secrets`) whose signature verified. */
  readonly verifiedBy: number[];
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly at: number;
}

export interface ScriptedAnswer {
  readonly status?: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Answer after this long. */
  readonly delayMs?: number;
  /** Never answer. */
  readonly hang?: boolean;
}

export interface WebhookReceiver {
  readonly url: string;
  /** Secrets it verifies with (set after the endpoint is created). */
  secrets: string[];
  /** Requests that verified, in arrival order. */
  readonly received: Received[];
  /** Requests that did not verify, with why. */
  readonly rejected: string[];
  /** Answers for the next requests, in order (then 200). */
  readonly script: ScriptedAnswer[];
  /** Answer every request this way from now on (null: 200). */
  always: ScriptedAnswer | null;
  /** Decides a request's answer from what it carried (null: the script, then `always`). */
  decide: ((request: Received) => ScriptedAnswer | null) | null;
  /** Requests being answered right now. */
  inFlight(): number;
  /** The most requests it was ever answering at once. */
  maxInFlight(): number;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: Received[] = [];
  const rejected: string[] = [];
  const script: ScriptedAnswer[] = [];
  let now = 0;
  let peak = 0;
  const open = new Set<ServerResponse>();
  const receiver: WebhookReceiver = {
    url: '',
    secrets: [],
    received,
    rejected,
    script,
    always: null,
    decide: null,
    inFlight: () => now,
    maxInFlight: () => peak,
    close: () =>
      new Promise((resolve) => {
        for (const response of open) response.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      now += 1;
      peak = Math.max(peak, now);
      open.add(response);
      response.on('close', () => {
        now -= 1;
        open.delete(response);
      });
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = {
        'webhook-id': String(request.headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(request.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(request.headers['webhook-signature'] ?? ''),
      };
      const verifiedBy = receiver.secrets.flatMap((secret, index) => {
        try {
          new Webhook(secret).verify(body, headers);
          return [index];
        } catch {
          return [];
        }
      });
      if (verifiedBy.length === 0) {
        rejected.push(`${headers['webhook-id']}: no secret verified`);
        return response.writeHead(401).end('bad signature');
      }
      const parsed = JSON.parse(body) as { type: string; data: Record<string, unknown> };
      const delivery: Received = {
        id: headers['webhook-id'],
        timestamp: headers['webhook-timestamp'],
        signatures: headers['webhook-signature'].split(' ').filter(Boolean).length,
        verifiedBy,
        type: parsed.type,
        data: parsed.data,
        at: Date.now(),
      };
      received.push(delivery);
      const answer = receiver.decide?.(delivery) ?? script.shift() ?? receiver.always ?? {};
      if (answer.hang) return;
      const send = () =>
        response.writeHead(answer.status ?? 200, {
          'content-type': 'text/plain',
          ...answer.headers,
        }).end(answer.body ?? 'ok');
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (receiver as { url: string }).url = `http://127.0.0.1:${
    (server.address() as AddressInfo).port
  }/hooks/${crypto.randomUUID().slice(0, 8)}`;
  return receiver;
}
