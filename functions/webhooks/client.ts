import type { Context } from 'hono';
import type { FlagReader } from '../_shared/flags/index.ts';
import { clientAddress, ProblemError, retryAfterSeconds } from '../_shared/http/index.ts';
import type { EdgeLimiter } from '../_shared/ratelimit/edge.ts';
import type { IntakeCounters } from './counters.ts';

/** Per-IP requests per minute admitted by the optional Upstash tier. */
export const EDGE_LIMIT_PER_MINUTE = 600;

export type { EdgeLimiter } from '../_shared/ratelimit/edge.ts';

/** The caller's address as the platform's proxy reports it (see `clientAddress`). */
export function clientIp(c: Context): string | undefined {
  return clientAddress(c.req.raw.headers);
}

/** The optional per-IP tier, before any database work: 429 with `Retry-After` when over. */
export async function checkEdgeLimit(
  c: Context,
  limiter: EdgeLimiter | null | undefined,
  counters: IntakeCounters,
  provider: string,
): Promise<void> {
  if (!limiter) return;
  const verdict = await limiter.check(`${provider}:${clientIp(c) ?? 'unknown'}`);
  counters.edgeDecided(verdict.allowed);
  if (verdict.allowed) return;
  counters.rejected(provider, 'edge_rate_limited');
  Object.assign(c.get('logFields'), { outcome: 'rate_limited', reason: 'edge_rate_limited' });
  throw new ProblemError(429, {
    detail: 'too many requests from this address',
    headers: { 'Retry-After': retryAfterSeconds(verdict.retryAfterMs) },
  });
}

/** Seconds a sender is asked to wait while an operator has its intake switched off. */
export const SWITCHED_OFF_RETRY_AFTER_SECONDS = 30;

/**
 * What every intake route checks before it reads the body: names the provider in the
 * request line, the optional per-IP tier (429), then the provider's switch (`flag`, 503 with
 * `Retry-After` while an operator has it off). `label` names the provider to the sender.
 */
export async function admitDelivery(
  c: Context,
  deps: {
    readonly edgeLimiter?: EdgeLimiter | null;
    readonly flags: FlagReader;
    readonly counters: IntakeCounters;
  },
  provider: string,
  flag: string,
  label = `intake for ${provider}`,
): Promise<void> {
  c.get('logFields').provider = provider;
  if (deps.edgeLimiter) await checkEdgeLimit(c, deps.edgeLimiter, deps.counters, provider);
  if (await deps.flags.isEnabled(flag)) return;
  deps.counters.rejected(provider, 'intake_disabled');
  throw new ProblemError(503, {
    detail: `${label} is switched off; retry later`,
    expose: true,
    headers: { 'Retry-After': String(SWITCHED_OFF_RETRY_AFTER_SECONDS) },
  });
}
