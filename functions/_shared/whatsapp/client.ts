import type { CircuitBreaker, Verdict } from '../breaker/index.ts';
import { classifyGraphError, WhatsAppApiError } from './errors.ts';
import { messageBody, type OutboundMessage, type SendOptions } from './message.ts';

export {
  type ListRow,
  messageBody,
  type OutboundMessage,
  type SendOptions,
  WHATSAPP_LIMITS,
} from './message.ts';

/**
 * A WhatsApp Cloud API client for any app on Gatehouse: text, interactive lists and reply
 * buttons (threaded as replies with `context.message_id`), and media download (media id →
 * URL → bytes, size-capped). Failures are {@link WhatsAppApiError}s classified from Meta's
 * codes; with a breaker, every instance stops calling a failing Graph API together.
 */

export interface SentMessage {
  /** Meta's id of the sent message (`wamid...`), the key of its status webhooks. */
  readonly messageId: string;
  /** The recipient's WhatsApp id as Meta resolved it. */
  readonly waId: string | null;
}

export interface DownloadedMedia {
  readonly bytes: Uint8Array;
  readonly mimeType: string;
  readonly sha256: string | null;
}

export interface WhatsAppClientOptions {
  /** `WHATSAPP_GRAPH_URL`: the Graph API base with its version. */
  readonly graphUrl: string;
  readonly accessToken: string;
  readonly phoneNumberId: string;
  readonly fetch?: typeof fetch;
  /** Bound on one call (default 10 s); past it the call is a transient failure. */
  readonly timeoutMs?: number;
  /** Largest media download (default 16 MiB; WhatsApp's video limit). */
  readonly maxMediaBytes?: number;
  /** A shared breaker for the Graph API (`createBreakers(...).get('whatsapp.graph')`). */
  readonly breaker?: CircuitBreaker;
}

export interface WhatsAppClient {
  send(to: string, message: OutboundMessage, options?: SendOptions): Promise<SentMessage>;
  downloadMedia(mediaId: string, options?: { maxBytes?: number }): Promise<DownloadedMedia>;
}

/** Hosts Meta serves media from: the token is sent to these (and the Graph API) only. */
const MEDIA_HOST_SUFFIXES = ['.fbsbx.com', '.facebook.com', '.fbcdn.net', '.whatsapp.net'];

export function createWhatsAppClient(options: WhatsAppClientOptions): WhatsAppClient {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxMediaBytes = options.maxMediaBytes ?? 16 * 1024 * 1024;
  const base = options.graphUrl.replace(/\/+$/, '');
  const graphOrigin = new URL(base).origin;
  const auth = { authorization: `Bearer ${options.accessToken}` };

  /** One HTTP exchange; network failures and timeouts become transient API errors. */
  const exchange = async (url: string, init: RequestInit): Promise<Response> => {
    try {
      return await doFetch(url, {
        ...init,
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      // Only the kind: a network error's message may carry the URL.
      const kind = error instanceof Error ? error.name : 'error';
      throw new WhatsAppApiError(`Graph API unreachable (${kind})`, {
        kind: 'transient',
        status: 0,
        code: null,
        subcode: null,
        fbtraceId: null,
        retryAfterMs: null,
      });
    }
  };

  /** Runs `call` through the breaker (when there is one), counting Meta's health only. */
  const guarded = <T>(call: () => Promise<T>): Promise<T> => {
    if (!options.breaker) return call();
    return options.breaker.run(call, verdictOf, failureOf);
  };

  return {
    async send(to, message, sendOptions = {}) {
      const body = JSON.stringify(messageBody(to, message, sendOptions));
      return await guarded(async () => {
        const res = await exchange(
          `${base}/${encodeURIComponent(options.phoneNumberId)}/messages`,
          {
            method: 'POST',
            headers: { ...auth, 'content-type': 'application/json' },
            body,
          },
        );
        const json = await readJson(res);
        if (!res.ok) throw apiError(res, json);
        const sent = json as { messages?: { id?: unknown }[]; contacts?: { wa_id?: unknown }[] };
        const messageId = sent.messages?.[0]?.id;
        if (typeof messageId !== 'string' || messageId === '') {
          throw new WhatsAppApiError('Graph API answered without a message id', {
            kind: 'transient',
            status: res.status,
            code: null,
            subcode: null,
            fbtraceId: null,
            retryAfterMs: null,
          });
        }
        const waId = sent.contacts?.[0]?.wa_id;
        return { messageId, waId: typeof waId === 'string' ? waId : null };
      });
    },

    async downloadMedia(mediaId, downloadOptions = {}) {
      const cap = Math.min(downloadOptions.maxBytes ?? maxMediaBytes, maxMediaBytes);
      return await guarded(async () => {
        const res = await exchange(`${base}/${encodeURIComponent(mediaId)}`, { headers: auth });
        const json = await readJson(res);
        if (!res.ok) throw apiError(res, json);
        const media = json as {
          url?: unknown;
          mime_type?: unknown;
          sha256?: unknown;
          file_size?: unknown;
        };
        if (typeof media.url !== 'string') throw permanent('media answer has no url');
        const url = new URL(media.url);
        const trusted = url.origin === graphOrigin ||
          (url.protocol === 'https:' &&
            MEDIA_HOST_SUFFIXES.some((suffix) => url.hostname.endsWith(suffix)));
        if (!trusted) throw permanent('media url is not on a Meta host');
        if (typeof media.file_size === 'number' && media.file_size > cap) {
          throw permanent(`media is ${media.file_size} bytes, over the ${cap}-byte cap`);
        }
        const file = await exchange(url.href, { headers: auth });
        if (!file.ok) {
          await file.body?.cancel();
          throw apiError(file, null);
        }
        const bytes = await readCapped(file, cap);
        return {
          bytes,
          mimeType: typeof media.mime_type === 'string'
            ? media.mime_type
            : file.headers.get('content-type') ?? 'application/octet-stream',
          sha256: typeof media.sha256 === 'string' ? media.sha256 : null,
        };
      });
    },
  };
}

async function readJson(res: Response): Promise<unknown> {
  const text = await readCapped(res, 64 * 1024).then((bytes) => new TextDecoder().decode(bytes))
    .catch(() => '');
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** The answer's body, refusing more than `cap` bytes (the transfer stops there). */
async function readCapped(res: Response, cap: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > cap) {
    await res.body?.cancel();
    throw permanent(`media is ${declared} bytes, over the ${cap}-byte cap`);
  }
  if (!res.body) return new Uint8Array();
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > cap) {
      await reader.cancel();
      throw permanent(`media is over the ${cap}-byte cap`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Meta's error object (`{error: {message, code, error_subcode, fbtrace_id}}`) as ours. */
function apiError(res: Response, json: unknown): WhatsAppApiError {
  const error = (json as { error?: Record<string, unknown> } | null)?.error ?? {};
  const code = typeof error.code === 'number' ? error.code : null;
  const subcode = typeof error.error_subcode === 'number' ? error.error_subcode : null;
  const detail = (error.error_data as { details?: unknown } | undefined)?.details;
  const text = typeof error.message === 'string' ? error.message : `HTTP ${res.status}`;
  const retryAfter = Number(res.headers.get('retry-after'));
  return new WhatsAppApiError(
    `Graph API ${res.status}${code === null ? '' : ` code ${code}`}: ${text}${
      typeof detail === 'string' ? ` (${detail})` : ''
    }`.slice(0, 500),
    {
      kind: classifyGraphError(res.status, code),
      status: res.status,
      code,
      subcode,
      fbtraceId: typeof error.fbtrace_id === 'string' ? error.fbtrace_id : null,
      retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0
        ? Math.min(retryAfter, 3_600) * 1_000
        : null,
    },
  );
}

function permanent(message: string): WhatsAppApiError {
  return new WhatsAppApiError(message, {
    kind: 'permanent',
    status: 0,
    code: null,
    subcode: null,
    fbtraceId: null,
    retryAfterMs: null,
  });
}

/** How a call's outcome counts for the Graph API's breaker. */
function verdictOf(outcome: { ok: true } | { ok: false; error: unknown }): Verdict {
  if (outcome.ok) return 'success';
  const error = outcome.error;
  if (!(error instanceof WhatsAppApiError)) return 'failure';
  if (error.kind === 'transient' || error.kind === 'throttled') return 'failure';
  if (error.kind === 'recipient_throttled') return 'neutral';
  // A permanent error is Meta answering: the upstream is up.
  return error.details.status === 0 ? 'neutral' : 'success';
}

function failureOf(outcome: { ok: true } | { ok: false; error: unknown }): string {
  if (outcome.ok) return 'failed';
  const error = outcome.error;
  if (error instanceof WhatsAppApiError) {
    return `${error.kind} ${error.details.status}${
      error.details.code === null ? '' : ` code ${error.details.code}`
    }`;
  }
  return error instanceof Error ? error.name : 'error';
}
