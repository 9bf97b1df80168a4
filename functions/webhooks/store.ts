import type { Context } from 'hono';
import { type AppEnv, ProblemError, retryAfterSeconds } from '../_shared/http/index.ts';
import type { EventOutcome, Ingestor, IngestRequest } from '../_shared/webhooks/ingest.ts';
import { InputRefusedError } from '../_shared/webhooks/input-refused.ts';
import type { IntakeCounters } from './counters.ts';

/** What a sender is told when the database refused a value of its delivery. */
export const INPUT_REFUSED_DETAIL =
  'the delivery holds a value that cannot be stored; nothing was stored';

/**
 * Stores a delivery's events (one commit, after which they are durable) and answers what
 * the ingestor refused: 429 with `Retry-After` when the provider is over its limit, 400
 * when the database refused one of the delivery's values (nothing stored; the SQLSTATE is
 * logged, the server's message never sent). `label` names the provider in the 429 detail;
 * `logKeys: false` keeps the event keys off the request line (keys holding what a user
 * typed).
 *
 * @example
 * ```ts
 * const outcomes = await storeEvents(c, { ingestor, counters }, request);
 * ```
 */
export async function storeEvents(
  c: Context<AppEnv>,
  deps: { readonly ingestor: Ingestor; readonly counters: IntakeCounters },
  request: IngestRequest,
  options: { readonly label?: string; readonly logKeys?: boolean } = {},
): Promise<EventOutcome[]> {
  const label = options.label ?? request.provider;
  let outcomes: EventOutcome[];
  try {
    outcomes = await deps.ingestor.ingest(request);
  } catch (error) {
    if (!(error instanceof InputRefusedError)) throw error;
    deps.counters.rejected(request.provider, 'input_refused');
    const fields = c.get('logFields');
    fields.reason = 'input_refused';
    fields.sqlstate = error.sqlstate;
    throw new ProblemError(400, { detail: INPUT_REFUSED_DETAIL, cause: error });
  }
  deps.counters.bucketsDecided(request, outcomes);
  const logKeys = options.logKeys ?? true;
  const throttled = outcomes.find((outcome) => outcome.outcome === 'throttled');
  if (throttled) {
    deps.counters.rejected(request.provider, 'throttled');
    const fields = c.get('logFields');
    fields.reason = 'throttled';
    describeOutcomes(fields, 'rate_limited', request, outcomes, logKeys);
    throw new ProblemError(429, {
      detail: `${label} is over its intake limit; retry later`,
      headers: { 'Retry-After': retryAfterSeconds(throttled.retryAfterMs) },
    });
  }
  deps.counters.accepted(request.provider, outcomes);
  describeOutcomes(c.get('logFields'), storedOutcome(outcomes), request, outcomes, logKeys);
  return outcomes;
}

/** Event keys a request line names at most; the rest are counted. */
export const LOGGED_KEYS_MAX = 10;

/**
 * The request line's word for a stored delivery: `accepted` when an event was stored to be
 * processed, else `rate_limited` when its events were stored over their sender's limit (no
 * job), else `duplicate`.
 */
function storedOutcome(
  outcomes: readonly EventOutcome[],
): 'accepted' | 'rate_limited' | 'duplicate' {
  if (outcomes.some((o) => o.outcome === 'accepted')) return 'accepted';
  return outcomes.some((o) => o.outcome === 'rate_limited') ? 'rate_limited' : 'duplicate';
}

/**
 * What the request line tells about a delivery the ingestor answered: `outcome`
 * (`accepted`, `duplicate`, or `rate_limited`: stored over a sender's limit, or refused with
 * 429 over the provider's), the events by outcome when they differ, and the event keys (the
 * first ten) unless `logKeys` is false, so one grep finds the delivery of an event.
 */
function describeOutcomes(
  fields: Record<string, unknown>,
  outcome: string,
  request: IngestRequest,
  outcomes: readonly EventOutcome[],
  logKeys: boolean,
): void {
  fields.outcome = outcome;
  fields.events = outcomes.length;
  const byOutcome: Record<string, number> = {};
  for (const { outcome } of outcomes) byOutcome[outcome] = (byOutcome[outcome] ?? 0) + 1;
  if (Object.keys(byOutcome).length > 1 || byOutcome.rate_limited) fields.outcomes = byOutcome;
  if (!logKeys) return;
  fields.event_keys = request.events.slice(0, LOGGED_KEYS_MAX).map((event) => event.key);
  if (request.events.length > LOGGED_KEYS_MAX) {
    fields.event_keys_more = request.events.length - LOGGED_KEYS_MAX;
  }
}

/** True when at least one event was stored now (accepted, or stored as rate limited). */
export function storedAny(outcomes: readonly EventOutcome[]): boolean {
  return outcomes.some((o) => o.outcome === 'accepted' || o.outcome === 'rate_limited');
}
