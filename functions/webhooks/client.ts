import type { Context } from 'hono';
import { ProblemError } from '../_shared/http/index.ts';
import type { EdgeLimiter } from '../_shared/ratelimit/edge.ts';
import type { IntakeCounters } from './counters.ts';

/** Per-IP requests per minute admitted by the optional Upstash tier. */
export const EDGE_LIMIT_PER_MINUTE = 600;

export type { EdgeLimiter } from '../_shared/ratelimit/edge.ts';

/**
 * The caller's address as the platform's proxy reports it: the last `X-Forwarded-For`
 * entry is the one the nearest trusted proxy added (earlier ones are client-supplied).
 */
export function clientIp(c: Context): string | undefined {
  const forwarded = c.req.header('x-forwarded-for');
  if (!forwarded) return undefined;
  const parts = forwarded.split(',').map((part) => part.trim()).filter((part) => part);
  return parts.at(-1);
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
  if (verdict.allowed) return;
  counters.rejected(provider, 'edge_rate_limited');
  throw new ProblemError(429, {
    detail: 'too many requests from this address',
    headers: { 'Retry-After': String(Math.max(1, Math.ceil(verdict.retryAfterMs / 1000))) },
  });
}
