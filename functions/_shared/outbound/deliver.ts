/**
 * The `webhook.deliver` job: one attempt at one message (an event for one endpoint). The
 * attempt is started on the pool (`webhook_message_begin`: held, waiting, busy, throttled
 * or scheduled messages go no further), the request is signed with Standard Webhooks and
 * sent with no transaction open, and what came back is recorded on the pool too
 * (`webhook_message_finish`: the attempt's row, the message's next state, its retry). Each
 * is one statement, so the endpoint's row (under which attempts in flight are counted) is
 * locked only while it runs, and the job completes with other jobs' completions. A job run
 * again after its completion was lost finds its message settled (`done`) or its next
 * attempt scheduled (`scheduled`) and stops there.
 */
import { Webhook } from 'standardwebhooks';
import type { Clock } from '../clock.ts';
import { ASYNC_COMMIT, type Queryable, typed } from '../db/types.ts';
import { type BreakerPolicy, type CircuitBreaker, CircuitOpenError } from '../breaker/index.ts';
import { PermanentJobError } from '../queue/errors.ts';
import type { JobHandler } from '../queue/types.ts';
import type { GatehouseMetrics } from '../metrics/catalog.ts';
import type { SecretBox } from './secrets.ts';

export const WEBHOOK_DELIVER_KIND = 'webhook.deliver';
export const WEBHOOK_QUEUE = 'webhooks';

/**
 * The published retry schedule: after failed attempt n, the next comes RETRY_SCHEDULE_MS[n-1]
 * later (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h): eight attempts over about 28 hours.
 */
export const RETRY_SCHEDULE_MS: readonly number[] = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];

/** A 2xx within this long is a success; anything slower is a failed attempt. */
export const DELIVERY_TIMEOUT_MS = 15_000;
/** The most of a response body kept with the attempt. */
export const RESPONSE_EXCERPT_BYTES = 4_096;
/** The longest `Retry-After` honoured. */
const MAX_RETRY_AFTER_MS = 10 * 3_600_000;

/** Each endpoint's breaker: open at half of 10+ calls failing in a minute, or 5 in a row. */
export const ENDPOINT_BREAKER_POLICY: BreakerPolicy = {
  failureThreshold: 5,
  failureRatio: 0.5,
  minimumCalls: 10,
  windowMs: 60_000,
  openMs: 30_000,
};

/** What an endpoint answered. */
export interface DeliveryResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The first RESPONSE_EXCERPT_BYTES of the body, as text. */
  readonly excerpt: string;
}

/** The request never got an answer (refused target, DNS, connect, TLS, timeout). */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

/** Sends one signed request; throws {@link DeliveryError} when no answer came. */
export type DeliveryTransport = (
  url: string,
  request: {
    readonly headers: Record<string, string>;
    readonly body: string;
    readonly timeoutMs: number;
  },
) => Promise<DeliveryResponse>;

export interface WebhookDelivererOptions {
  /** A pool (not the job's transaction): attempts start before the transaction opens. */
  readonly db: Queryable;
  readonly clock: Clock;
  readonly secrets: SecretBox;
  readonly transport: DeliveryTransport;
  readonly breakers: { get(name: string, policy?: BreakerPolicy): CircuitBreaker };
  /** Endpoints failing this long without a success are disabled. */
  readonly disableAfterMs: number;
  /** RETRY_SCHEDULE_MS unless given (tests shorten it). */
  readonly schedule?: readonly number[];
  /** Attempts by endpoint and outcome, and event → 2xx latency (none recorded without). */
  readonly metrics?: Pick<GatehouseMetrics, 'outboundDeliveries' | 'outboundLatency'>;
  readonly random?: () => number;
}

type Begun = {
  outcome: 'go' | 'done' | 'scheduled' | 'held' | 'waiting' | 'queued' | 'busy' | 'throttled';
  retry_in_ms: number;
  attempt: number;
  endpoint_id: string | null;
  url: string | null;
  secrets: string[] | null;
  message_id: string | null;
  event_type: string | null;
  payload: unknown;
  emitted_at: Date | string | null;
};

/** `Retry-After` as milliseconds (seconds or an HTTP date), capped; null when absent or bad. */
export function retryAfterMs(value: string | null, now: number): number | null {
  if (!value) return null;
  const text = value.trim();
  const ms = /^\d{1,9}$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now;
  if (!Number.isFinite(ms)) return null;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

/** Standard Webhooks' body: `{type, timestamp, data}`. */
export function deliveryBody(type: string, emittedAt: Date, data: unknown): string {
  return JSON.stringify({ type, timestamp: emittedAt.toISOString(), data });
}

/** `webhook-signature`: one `v1,<signature>` per secret, space-separated. */
export function signatureHeader(
  secrets: readonly string[],
  messageId: string,
  at: Date,
  body: string,
): string {
  return secrets.map((secret) => new Webhook(secret).sign(messageId, at, body)).join(' ');
}

export function webhookDeliverHandler(
  options: WebhookDelivererOptions,
): JobHandler<{ message_id?: unknown }> {
  const schedule = options.schedule ?? RETRY_SCHEDULE_MS;
  const random = options.random ?? Math.random;
  const leaseMs = DELIVERY_TIMEOUT_MS + 15_000;
  const disableAfter = `${Math.round(options.disableAfterMs)} milliseconds`;

  const opened = openedSecrets(options.secrets);

  return async (payload, ctx) => {
    const id = Number(payload?.message_id);
    if (!Number.isSafeInteger(id) || id < 1) {
      throw new PermanentJobError('payload needs message_id');
    }
    // Begin and finish lock the endpoint's row, so waiting for each commit's WAL flush with
    // that lock held would let one endpoint take one attempt per flush. They commit without
    // waiting: a Postgres crash can forget the last fraction of a second of attempts, which
    // are then made again (delivery is at least once; receivers de-duplicate by webhook-id).
    const [begun] = await options.db.query<Begun>(
      `select b.* from public.webhook_message_begin($1, $2, $3) b, ${ASYNC_COMMIT}`,
      [typed(id, 'int8'), typed(leaseMs, 'int4'), typed(ctx.job.id, 'int8')],
    );
    ctx.describe({ message: id, endpoint: begun?.endpoint_id ?? null, begin: begun!.outcome });
    // Settled, kept for later, or let go by whatever it waits for: nothing more to do here.
    if (!begun || ['done', 'scheduled', 'held', 'waiting', 'queued'].includes(begun.outcome)) {
      return;
    }
    // Throttled: when a token is back. Busy (another job's attempt is out): when its lease
    // ends, in case that attempt never settles it.
    if (begun.outcome === 'throttled' || begun.outcome === 'busy') {
      await ctx.tx.query(
        `select gatehouse.webhook_enqueue($1, now() + $2 * interval '1 millisecond')`,
        [typed(id, 'int8'), typed(begun.retry_in_ms + Math.floor(random() * 200), 'int4')],
      );
      return;
    }

    const started = options.clock.now();
    let response: DeliveryResponse | null = null;
    let failure: string | null = null;
    try {
      const secrets = await Promise.all((begun.secrets ?? []).map(opened));
      if (secrets.length === 0) {
        throw new DeliveryError('unsigned', 'the endpoint has no signing secret');
      }
      const body = deliveryBody(begun.event_type!, new Date(begun.emitted_at!), begun.payload);
      const at = new Date(started);
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'Gatehouse-Webhooks/1',
        'webhook-id': begun.message_id!,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': signatureHeader(secrets, begun.message_id!, at, body),
      };
      const breaker = options.breakers.get(`webhook:${begun.endpoint_id}`, ENDPOINT_BREAKER_POLICY);
      response = await breaker.run(
        () => options.transport(begun.url!, { headers, body, timeoutMs: DELIVERY_TIMEOUT_MS }),
        (outcome) => {
          if (!outcome.ok) return 'failure';
          const status = outcome.value.status;
          if (status < 300) return 'success';
          return status >= 500 || status === 408 || status === 429 ? 'failure' : 'neutral';
        },
        (outcome) => outcome.ok ? `HTTP ${outcome.value.status}` : errorText(outcome.error),
      );
    } catch (error) {
      if (error instanceof CircuitOpenError) {
        // Never sent: the attempt does not count; ask again once the breaker may let it go.
        await ctx.tx.query('select public.webhook_message_release($1, $2)', [
          typed(id, 'int8'),
          typed(error.retryInMs + Math.floor(random() * 500), 'int4'),
        ]);
        ctx.describe({ result: 'breaker open' });
        options.metrics?.outboundDeliveries.inc({
          endpoint: begun.endpoint_id!,
          outcome: 'not_sent',
        });
        return;
      }
      failure = errorText(error);
    }

    const durationMs = Math.max(0, Math.round(options.clock.now() - started));
    const status = response?.status ?? null;
    const outcome = status !== null && status >= 200 && status < 300
      ? 'succeeded'
      : status === 410
      ? 'gone'
      : 'failed';
    let retryInMs: number | null = null;
    if (outcome === 'failed' && begun.attempt <= schedule.length) {
      const asked = status === 429 || status === 503
        ? retryAfterMs(response!.headers.get('retry-after'), options.clock.now())
        : null;
      retryInMs = asked ?? schedule[begun.attempt - 1]!;
    }
    const error = outcome === 'succeeded' ? null : failure ?? `HTTP ${status}`;
    const [finished] = await options.db.query<{ status: string }>(
      `select public.webhook_message_finish($1, $2, $3, $4, $5, $6, $7, $8, $9::interval) as status
         from ${ASYNC_COMMIT}`,
      [
        typed(id, 'int8'),
        typed(begun.attempt, 'int4'),
        typed(outcome, 'text'),
        typed(status, 'int4'),
        typed(durationMs, 'int4'),
        typed(error, 'text'),
        typed(response ? response.excerpt : null, 'text'),
        typed(retryInMs, 'int4'),
        typed(disableAfter, 'text'),
      ],
    );
    options.metrics?.outboundDeliveries.inc({ endpoint: begun.endpoint_id!, outcome });
    if (outcome === 'succeeded') {
      const emitted = new Date(begun.emitted_at!).getTime();
      options.metrics?.outboundLatency.observe(
        { endpoint: begun.endpoint_id! },
        Math.max(0, options.clock.now() - emitted) / 1000,
      );
    }
    ctx.describe({
      attempt: begun.attempt,
      status_code: status,
      result: finished?.status ?? 'unknown',
      ...(error ? { error } : {}),
    });
  };
}

/** The most endpoint secrets kept opened (each a few dozen bytes). */
const OPENED_SECRETS_KEPT = 1_000;

/**
 * Opens sealed secrets once: every attempt at an endpoint signs with the same few, and an
 * AES-GCM open per attempt cost about a tenth of the worker's CPU. A rotated or revoked
 * secret is sealed anew (another ciphertext), so what is kept never outlives its use; the
 * oldest go first beyond OPENED_SECRETS_KEPT, and a secret that does not open is not kept.
 */
function openedSecrets(box: SecretBox): (sealed: string) => Promise<string> {
  const kept = new Map<string, Promise<string>>();
  return (sealed) => {
    let secret = kept.get(sealed);
    if (secret === undefined) {
      secret = box.open(sealed);
      secret.catch(() => kept.delete(sealed));
      kept.set(sealed, secret);
      if (kept.size > OPENED_SECRETS_KEPT) kept.delete(kept.keys().next().value!);
    }
    return secret;
  };
}

function errorText(error: unknown): string {
  if (error instanceof DeliveryError) return `${error.reason}: ${error.message}`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
