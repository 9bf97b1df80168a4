// Meta's WhatsApp Cloud API (Graph API) as a local server speaking its protocol: bearer
// token auth (190 otherwise), POST /<version>/<phone-number-id>/messages validated and
// answered with a wamid, GET /<version>/<media-id> answered with a download URL, that URL
// serving the bytes to the same token, and Meta's error object for whatever a caller asks
// to fail next. The development sandbox (`npm run demo`) and the tests both use it.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const GRAPH_VERSION = 'v21.0';

export interface SentByStub {
  readonly phoneNumberId: string;
  readonly body: Record<string, unknown>;
  readonly messageId: string;
}

export interface ScriptedFailure {
  readonly status: number;
  /** Meta's error code (`error.code`), e.g. 131047; none: a bare status. */
  readonly code?: number;
  readonly message?: string;
  readonly retryAfter?: string;
}

export interface GraphApiStub {
  /** WHATSAPP_GRAPH_URL for the client: `http://127.0.0.1:<port>/v21.0`. */
  readonly url: string;
  readonly token: string;
  /** Every message accepted, in order. */
  readonly sent: SentByStub[];
  /** Answers for the next requests, instead of serving them. */
  readonly failNext: ScriptedFailure[];
  /** Requests received by path, for "nothing was called" checks. */
  readonly requests: string[];
  /** Authorization headers of media byte downloads. */
  readonly mediaAuth: (string | undefined)[];
  /** Media served by id; `url` overrides the download URL Meta would give. */
  readonly media: Map<string, { bytes: Uint8Array; mimeType: string; url?: string }>;
  /** Called with each message as it is accepted. */
  onSent?: (message: SentByStub) => void;
  close(): Promise<void>;
}

export interface GraphApiStubOptions {
  /** The bearer token it accepts (default `graph-token-for-tests`). */
  readonly token?: string;
  /** The port on 127.0.0.1 (default: any free one). */
  readonly port?: number;
  /**
   * Other documents it serves to anyone, by path (no token asked), e.g. a PayPal signing
   * certificate: `{ contentType, body }`.
   */
  readonly documents?: ReadonlyMap<string, { contentType: string; body: string }>;
}

const ERROR_TITLES: Record<number, string> = {
  100: 'Invalid parameter',
  130429: 'Rate limit hit',
  131000: 'Something went wrong',
  131026: 'Message Undeliverable',
  131047: 'Re-engagement message',
  131056: '(Business Account, Consumer Account) pair rate limit hit',
  190: 'Invalid OAuth access token',
};

function metaError(res: ServerResponse, failure: ScriptedFailure): void {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (failure.retryAfter) headers['retry-after'] = failure.retryAfter;
  const body = failure.code === undefined ? {} : {
    error: {
      message: `(#${failure.code}) ${
        failure.message ?? ERROR_TITLES[failure.code] ?? 'Unknown error'
      }`,
      type: 'OAuthException',
      code: failure.code,
      error_data: { messaging_product: 'whatsapp', details: failure.message ?? 'stub' },
      fbtrace_id: 'AbCdEfGh123',
    },
  };
  res.writeHead(failure.status, headers).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Whether `body` is a Cloud API message Meta would accept (the parts the client sends). */
function validMessage(body: Record<string, unknown>): boolean {
  if (body.messaging_product !== 'whatsapp' || typeof body.to !== 'string') return false;
  if (body.type === 'text') {
    return typeof (body.text as { body?: unknown } | undefined)?.body === 'string';
  }
  if (body.type !== 'interactive') return false;
  const interactive = body.interactive as {
    type?: string;
    body?: { text?: unknown };
    action?: { button?: unknown; sections?: unknown[]; buttons?: unknown[] };
  };
  if (typeof interactive?.body?.text !== 'string') return false;
  if (interactive.type === 'list') {
    return typeof interactive.action?.button === 'string' &&
      Array.isArray(interactive.action.sections) && interactive.action.sections.length > 0;
  }
  if (interactive.type === 'button') {
    const buttons = interactive.action?.buttons;
    return Array.isArray(buttons) && buttons.length >= 1 && buttons.length <= 3;
  }
  return false;
}

export async function startGraphApiStub(
  options: GraphApiStubOptions = {},
): Promise<GraphApiStub> {
  const token = options.token ?? 'graph-token-for-tests';
  const documents = options.documents ?? new Map();
  const sent: SentByStub[] = [];
  const failNext: ScriptedFailure[] = [];
  const requests: string[] = [];
  const mediaAuth: (string | undefined)[] = [];
  const media = new Map<string, { bytes: Uint8Array; mimeType: string; url?: string }>();
  let origin = '';
  let serial = 0;

  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://stub').pathname;
    requests.push(`${req.method} ${path}`);
    const body = await readBody(req);
    const document = req.method === 'GET' ? documents.get(path) : undefined;
    if (document) {
      return res.writeHead(200, { 'content-type': document.contentType }).end(document.body);
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      return metaError(res, { status: 401, code: 190 });
    }
    const mediaBytes = /^\/media-bytes\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && mediaBytes) {
      mediaAuth.push(req.headers.authorization);
      const item = media.get(decodeURIComponent(mediaBytes[1]!));
      if (!item) return res.writeHead(404).end();
      return res.writeHead(200, {
        'content-type': item.mimeType,
        'content-length': String(item.bytes.byteLength),
      }).end(item.bytes);
    }
    const failure = failNext.shift();
    if (failure) return metaError(res, failure);
    const messages = new RegExp(`^/${GRAPH_VERSION}/([^/]+)/messages$`).exec(path);
    if (req.method === 'POST' && messages) {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(body);
      } catch {
        return metaError(res, { status: 400, code: 100 });
      }
      if (!validMessage(parsed)) return metaError(res, { status: 400, code: 100 });
      serial += 1;
      const messageId = `wamid.STUB${serial}${crypto.randomUUID().slice(0, 8)}`;
      const message = { phoneNumberId: decodeURIComponent(messages[1]!), body: parsed, messageId };
      sent.push(message);
      stub.onSent?.(message);
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        messaging_product: 'whatsapp',
        contacts: [{ input: parsed.to, wa_id: parsed.to }],
        messages: [{ id: messageId }],
      }));
    }
    const mediaInfo = new RegExp(`^/${GRAPH_VERSION}/([^/]+)$`).exec(path);
    if (req.method === 'GET' && mediaInfo) {
      const id = decodeURIComponent(mediaInfo[1]!);
      const item = media.get(id);
      if (!item) return metaError(res, { status: 400, code: 100 });
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        messaging_product: 'whatsapp',
        url: item.url ?? `${origin}/media-bytes/${encodeURIComponent(id)}`,
        mime_type: item.mimeType,
        sha256: createHash('sha256').update(item.bytes).digest('hex'),
        file_size: item.bytes.byteLength,
        id,
      }));
    }
    return metaError(res, { status: 400, code: 100, message: 'Unsupported request' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;
  const stub: GraphApiStub = {
    url: `${origin}/${GRAPH_VERSION}`,
    token,
    sent,
    failNext,
    requests,
    mediaAuth,
    media,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return stub;
}
