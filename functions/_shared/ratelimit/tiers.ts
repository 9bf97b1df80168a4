import type { Context, MiddlewareHandler } from 'hono';
import type { Queryable } from '../db/types.ts';
import { ProblemError, retryAfterSeconds } from '../http/problem.ts';

/**
 * Requests per minute of each tier, chosen per route, and how many tokens an instance
 * takes from the bucket at once (`lease`): reads take ten and spend them one a request, so
 * nine reads in ten cost the database nothing; the others take one token a request.
 */
export const RATE_TIERS = {
  /** Sign-in and sign-up: guessing passwords must be slow. */
  strict: { limit: 10, windowSeconds: 60, lease: 1 },
  /** Writes. */
  moderate: { limit: 100, windowSeconds: 60, lease: 1 },
  /** Reads. */
  relaxed: { limit: 1_000, windowSeconds: 60, lease: 10 },
} as const;
export type RateTier = keyof typeof RATE_TIERS;

/** Buckets whose leased tokens an instance remembers; the least recently used go first. */
export const LEASED_BUCKETS_MAX = 10_000;

export interface RateLimitOptions {
  /** Where `rate_limit_lease` runs: a pool of the service role, not the user's transaction. */
  readonly db: Queryable;
  /** Whom the budget belongs to: the user's id when signed in, else the client's address. */
  readonly subject: (c: Context) => string;
  /** The tier of a request (default: GET and HEAD relaxed, others moderate). */
  readonly tier?: (c: Context) => RateTier;
  /** Buckets whose leased tokens are remembered ({@link LEASED_BUCKETS_MAX} by default). */
  readonly leasedBucketsMax?: number;
}

/** Tokens an instance holds for a bucket, and what the bucket held when they were taken. */
interface Lease {
  tokens: number;
  bucket: number;
}

/**
 * Limits each subject per tier with the SQL token bucket (`rate_limit_lease`: shared by
 * every instance; a bucket holds a minute's allowance and refills evenly). An instance
 * takes up to the tier's `lease` tokens at a time and spends them locally, one a request,
 * so a subject never gets more than its limit across instances, and an instance may hold
 * up to `lease - 1` of its tokens unspent (at most 1 % of a read budget). Every answer says
 * where the caller stands, in the IETF RateLimit fields
 * (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "moderate";q=100;w=60` and
 * `RateLimit: "moderate";r=<left>;t=<seconds until full>` (`r` counts this instance's
 * leased tokens and what the bucket held when they were taken). Over the limit: 429 with
 * `Retry-After`. A database that cannot answer fails the request (503): closed, not open.
 *
 * @example
 * api.use('*', rateLimit({ db, subject: (c) => c.get('user').id }));
 */
export function rateLimit(options: RateLimitOptions): MiddlewareHandler {
  const tierOf = options.tier ??
    ((c: Context) => (c.req.method === 'GET' || c.req.method === 'HEAD' ? 'relaxed' : 'moderate'));
  // Insertion order is use order: a bucket is moved to the end when its lease is used.
  const leases = new Map<string, Lease>();
  const leasedBucketsMax = options.leasedBucketsMax ?? LEASED_BUCKETS_MAX;
  return async function rateLimit(c, next) {
    const tier = tierOf(c);
    const { limit, windowSeconds, lease: want } = RATE_TIERS[tier];
    const refill = limit / windowSeconds;
    const key = `api:${tier}:${options.subject(c)}`;
    let held = leases.get(key);
    leases.delete(key);
    if (!held || held.tokens < 1) {
      const [taken] = await options.db.query<
        { granted: number; remaining: number; retry_after_ms: number }
      >(
        // The take's commit does not wait for its WAL flush (synchronous_commit off for
        // this transaction alone): a crash may forget the last moment's takes, which at
        // worst grants a few requests again, and every request is spared a disk flush.
        `select t.* from public.rate_limit_lease($1, $2, $3, $4) t,
                set_config('synchronous_commit', 'off', true)`,
        [key, limit, refill, want],
      );
      if (taken!.granted < 1) {
        const fields = c.get('logFields') as Record<string, unknown> | undefined;
        if (fields) fields.reason = 'rate_limited';
        throw new ProblemError(429, {
          detail: `more than ${limit} requests a minute of this kind; slow down`,
          headers: {
            ...headers(tier, taken!.remaining),
            'Retry-After': retryAfterSeconds(taken!.retry_after_ms),
          },
        });
      }
      held = { tokens: taken!.granted, bucket: taken!.remaining };
    }
    held.tokens -= 1;
    if (held.tokens >= 1) {
      leases.set(key, held);
      // A forgotten lease's tokens are lost to its subject: fewer requests, never more.
      if (leases.size > leasedBucketsMax) leases.delete(leases.keys().next().value!);
    }
    const answer = headers(tier, held.bucket + held.tokens);
    await next();
    for (const [name, value] of Object.entries(answer)) c.res.headers.set(name, value);
  };
}

/** The IETF RateLimit fields of a tier with `remaining` tokens left. */
function headers(tier: RateTier, remaining: number): Record<string, string> {
  const { limit, windowSeconds } = RATE_TIERS[tier];
  const refill = limit / windowSeconds;
  return {
    'RateLimit-Policy': `"${tier}";q=${limit};w=${windowSeconds}`,
    'RateLimit': `"${tier}";r=${remaining};t=${Math.ceil((limit - remaining) / refill)}`,
  };
}
