import type { Context, MiddlewareHandler } from 'hono';
import type { Queryable } from '../db/types.ts';
import { ProblemError, retryAfterSeconds } from '../http/problem.ts';

/** Requests per minute of each tier, chosen per route. */
export const RATE_TIERS = {
  /** Sign-in and sign-up: guessing passwords must be slow. */
  strict: { limit: 10, windowSeconds: 60 },
  /** Writes. */
  moderate: { limit: 100, windowSeconds: 60 },
  /** Reads. */
  relaxed: { limit: 1_000, windowSeconds: 60 },
} as const;
export type RateTier = keyof typeof RATE_TIERS;

export interface RateLimitOptions {
  /** Where `rate_limit_take` runs: a pool of the service role, not the user's transaction. */
  readonly db: Queryable;
  /** Whom the budget belongs to: the user's id when signed in, else the client's address. */
  readonly subject: (c: Context) => string;
  /** The tier of a request (default: GET and HEAD relaxed, others moderate). */
  readonly tier?: (c: Context) => RateTier;
}

/**
 * Limits each subject per tier with the SQL token bucket (`rate_limit_take`: exact across
 * every instance; a bucket holds a minute's allowance and refills evenly). Every answer
 * says where the caller stands, in the IETF RateLimit fields
 * (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "moderate";q=100;w=60` and
 * `RateLimit: "moderate";r=<left>;t=<seconds until full>`. Over the limit: 429 with
 * `Retry-After`. A database that cannot answer fails the request (503): closed, not open.
 *
 * @example
 * api.use('*', rateLimit({ db, subject: (c) => c.get('user').id }));
 */
export function rateLimit(options: RateLimitOptions): MiddlewareHandler {
  const tierOf = options.tier ??
    ((c: Context) => (c.req.method === 'GET' || c.req.method === 'HEAD' ? 'relaxed' : 'moderate'));
  return async function rateLimit(c, next) {
    const tier = tierOf(c);
    const { limit, windowSeconds } = RATE_TIERS[tier];
    const refill = limit / windowSeconds;
    const [taken] = await options.db.query<
      { allowed: boolean; remaining: number; retry_after_ms: number }
    >(
      // The take's commit does not wait for its WAL flush (synchronous_commit off for this
      // transaction alone): a crash may forget the last moment's takes, which at worst
      // grants a few requests again, and every request is spared a disk flush.
      `select t.* from public.rate_limit_take($1, $2, $3) t,
              set_config('synchronous_commit', 'off', true)`,
      [
        `api:${tier}:${options.subject(c)}`,
        limit,
        refill,
      ],
    );
    const remaining = taken!.remaining;
    const headers = {
      'RateLimit-Policy': `"${tier}";q=${limit};w=${windowSeconds}`,
      'RateLimit': `"${tier}";r=${remaining};t=${Math.ceil((limit - remaining) / refill)}`,
    };
    if (!taken!.allowed) {
      const fields = c.get('logFields') as Record<string, unknown> | undefined;
      if (fields) fields.reason = 'rate_limited';
      throw new ProblemError(429, {
        detail: `more than ${limit} requests a minute of this kind; slow down`,
        headers: {
          ...headers,
          'Retry-After': retryAfterSeconds(taken!.retry_after_ms),
        },
      });
    }
    await next();
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
  };
}
