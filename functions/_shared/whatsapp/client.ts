import type { CircuitBreaker, Verdict } from '../breaker/index.ts';
import { classifyGraphError, WhatsAppApiError } from './errors.ts';

/**
 * A WhatsApp Cloud API client for any app on Gatehouse: text, interactive lists and reply
 * buttons (threaded as replies with `context.message_id`), and media download (media id →
 * URL → bytes, size-capped). Failures are {@link WhatsAppApiError}s classified from Meta's
 * codes; with a breaker, every instance stops calling a failing Graph API together.
 */

/** Meta's limits on message parts (Cloud API reference, "messages"). */
export const WHATSAPP_LIMITS = {
  textBody: 4_096,
  interactiveBody: 1_024,
  headerText: 60,
  footerText: 60,
  listButton: 20,
  listSections: 10,
  listRows: 10,
  rowId: 200,
  rowTitle: 24,
  rowDescription: 72,
  sectionTitle: 24,
  replyButtons: 3,
  buttonId: 256,
  buttonTitle: 20,
} as const;

export interface ListRow {
  readonly id: string;
  readonly title: string;
  readonly description?: string;
}

export type OutboundMessage =
  | { readonly type: 'text'; readonly text: string; readonly previewUrl?: boolean }
  | {
    readonly type: 'list';
    readonly header?: string;
    readonly body: string;
    readonly footer?: string;
    /** The button that opens the list. */
    readonly button: string;
    readonly sections: readonly { readonly title?: string; readonly rows: readonly ListRow[] }[];
  }
  | {
    readonly type: 'buttons';
    readonly header?: string;
    readonly body: string;
    readonly footer?: string;
    readonly buttons: readonly { readonly id: string; readonly title: string }[];
  };

export interface SendOptions {
  /** The `wamid` of the message this one answers: shown threaded under it. */
  readonly replyTo?: string;
}

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

/** The Cloud API request body for `message` to `to`. Throws a TypeError past Meta's limits. */
export function messageBody(
  to: string,
  message: OutboundMessage,
  options: SendOptions = {},
): Record<string, unknown> {
  const envelope: Record<string, unknown> = {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to,
  };
  if (options.replyTo) envelope.context = { message_id: options.replyTo };
  const L = WHATSAPP_LIMITS;
  switch (message.type) {
    case 'text':
      limit('text', message.text, L.textBody);
      return {
        ...envelope,
        type: 'text',
        text: { body: message.text, preview_url: message.previewUrl ?? false },
      };
    case 'list': {
      const rows = message.sections.flatMap((section) => section.rows);
      if (message.sections.length < 1 || message.sections.length > L.listSections) {
        throw new TypeError(`a list has 1 to ${L.listSections} sections`);
      }
      if (rows.length < 1 || rows.length > L.listRows) {
        throw new TypeError(`a list has 1 to ${L.listRows} rows in all`);
      }
      limit('button', message.button, L.listButton);
      for (const section of message.sections) {
        if (section.title !== undefined) limit('section title', section.title, L.sectionTitle);
        if (message.sections.length > 1 && !section.title) {
          throw new TypeError('every section of a list with several has a title');
        }
      }
      for (const row of rows) {
        limit('row id', row.id, L.rowId);
        limit('row title', row.title, L.rowTitle);
        if (row.description !== undefined) {
          limit('row description', row.description, L.rowDescription);
        }
      }
      return {
        ...envelope,
        type: 'interactive',
        interactive: {
          type: 'list',
          ...interactiveText(message),
          action: {
            button: message.button,
            sections: message.sections.map((section) => ({
              ...(section.title ? { title: section.title } : {}),
              rows: section.rows.map((row) => ({
                id: row.id,
                title: row.title,
                ...(row.description ? { description: row.description } : {}),
              })),
            })),
          },
        },
      };
    }
    case 'buttons':
      if (message.buttons.length < 1 || message.buttons.length > L.replyButtons) {
        throw new TypeError(`reply buttons number 1 to ${L.replyButtons}`);
      }
      for (const button of message.buttons) {
        limit('button id', button.id, L.buttonId);
        limit('button title', button.title, L.buttonTitle);
      }
      return {
        ...envelope,
        type: 'interactive',
        interactive: {
          type: 'button',
          ...interactiveText(message),
          action: {
            buttons: message.buttons.map((button) => ({
              type: 'reply',
              reply: { id: button.id, title: button.title },
            })),
          },
        },
      };
  }
}

function interactiveText(message: { header?: string; body: string; footer?: string }) {
  limit('body', message.body, WHATSAPP_LIMITS.interactiveBody);
  if (message.header !== undefined) limit('header', message.header, WHATSAPP_LIMITS.headerText);
  if (message.footer !== undefined) limit('footer', message.footer, WHATSAPP_LIMITS.footerText);
  return {
    ...(message.header ? { header: { type: 'text', text: message.header } } : {}),
    body: { text: message.body },
    ...(message.footer ? { footer: { text: message.footer } } : {}),
  };
}

function limit(what: string, value: string, max: number): void {
  if (value.length === 0 || value.length > max) {
    throw new TypeError(`${what} must be 1 to ${max} characters (got ${value.length})`);
  }
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
