import type { Context, MiddlewareHandler } from 'hono';
import { ASYNC_COMMIT, type Queryable } from '../db/types.ts';
import { ProblemError, retryAfterSeconds } from '../http/problem.ts';
import { NO_METRICS } from '../metrics/process.ts';
import { countDecision, type RateLimitMetrics } from './decisions.ts';

/**
 * Requests per minute of each tier, chosen per route, and how many tokens an instance
 * takes from the bucket at once (`lease`): reads take ten at first and spend them one a
 * request, so nine reads in ten cost the database nothing (later leases grow with what the
 * bucket holds, see {@link LEASE_SHARE}); the others take one token a request.
 */
export const RATE_TIERS = {
  /** Sign-in and sign-up: guessing passwords must be slow. */
  strict: { limit: 10, windowSeconds: 60, lease: 1 },
  /** Writes. */
  moderate: { limit: 100, windowSeconds: 60, lease: 1 },
  /** Reads. */
  relaxed: { limit: 1_000, windowSeconds: 60, lease: 10 },
  /** An operator's reads through the admin API (an open console polls about 50 a minute). */
  operator_read: { limit: 3_000, windowSeconds: 60, lease: 20 },
  /** An operator's changes: flags, replays, endpoints. */
  operator_write: { limit: 300, windowSeconds: 60, lease: 1 },
} as const;
export type RateTier = keyof typeof RATE_TIERS;

/** A lease of several tokens down to this many starts taking the next in the background. */
const REFILL_AHEAD_AT = 2;
/**
 * The share of what the bucket held at the last take that the next lease of a tier with
 * leases asks for, when that is more than the tier's own lease: a subject far from the
 * limit takes a twentieth of its bucket (a full read bucket: 50 tokens, one take in about 48
 * reads), one near it the tier's lease. Tokens an instance holds and never spends are lost
 * to the subject, never granted twice: holding more only matters while the bucket is full.
 */
export const LEASE_SHARE = 1 / 20;

/** How many tokens the next take asks for: the tier's lease, or more from a fuller bucket. */
export function leaseWanted(tierLease: number, bucketAtLastTake: number | undefined): number {
  if (tierLease <= 1 || bucketAtLastTake === undefined) return tierLease;
  return Math.max(tierLease, Math.floor(bucketAtLastTake * LEASE_SHARE));
}

/** Buckets whose leased tokens an instance remembers; the least recently used go first. */
export const LEASED_BUCKETS_MAX = 10_000;

/** Which API a limiter guards: its buckets and its decisions' metric scope are its own. */
export type RateLimitApi = 'api' | 'admin';

export interface RateLimitOptions {
  /** `api` (the user API, the default) or `admin`: keys `<api>:<tier>:<subject>`. */
  readonly api?: RateLimitApi;
  /** Where `rate_limit_lease` runs: a pool of the service role, not the user's transaction. */
  readonly db: Queryable;
  /** Whom the budget belongs to: the user's id when signed in, else the client's address. */
  readonly subject: (c: Context) => string;
  /** The tier of a request (default: GET and HEAD relaxed, others moderate). */
  readonly tier?: (c: Context) => RateTier;
  /** Buckets whose leased tokens are remembered ({@link LEASED_BUCKETS_MAX} by default). */
  readonly leasedBucketsMax?: number;
  /**
   * Where each request's decision is counted (`scope` `<api>_<tier>`, `allowed` or
   * `limited`); none: nothing is counted.
   */
  readonly metrics?: RateLimitMetrics;
}

/** What `rate_limit_lease` answers. */
interface Taken extends Record<string, unknown> {
  granted: number;
  remaining: number;
  retry_after_ms: number;
}

/** Tokens an instance holds for a bucket, and what the bucket held when they were taken. */
interface Lease {
  tokens: number;
  bucket: number;
}

/**
 * Limits each subject per tier with the SQL token bucket (`rate_limit_lease`: shared by
 * every instance; a bucket holds a minute's allowance and refills evenly). An instance
 * takes up to the tier's `lease` tokens at a time (more from a fuller bucket, see
 * {@link leaseWanted}) and spends them locally, one a request (taking the next lease in the
 * background when one runs low), so a subject never gets more than its limit across
 * instances, and an instance may hold up to a twentieth of what the bucket held plus two of
 * its tokens unspent (`lease + 2` near the limit). Every answer says
 * where the caller stands, in the IETF RateLimit fields
 * (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "moderate";q=100;w=60` and
 * `RateLimit: "moderate";r=<left>;t=<seconds until full>` (`r` counts this instance's
 * leased tokens and what the bucket held when they were taken). Over the limit: 429 with
 * `Retry-After`. A database that cannot answer fails the request (503): closed, not open.
 * Each request that got an answer counts one decision in `options.metrics`.
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
  const metrics = options.metrics ?? NO_METRICS;
  const scope = options.api ?? 'api';
  /** Takes running now, by bucket: requests that find no token wait for the same one. */
  const inFlight = new Map<string, Promise<Taken>>();
  /** Keeps `lease` as the most recently used; forgets the least recently used beyond the cap. */
  const remember = (key: string, lease: Lease) => {
    leases.delete(key);
    if (lease.tokens < 1) return;
    leases.set(key, lease);
    // A forgotten lease's tokens are lost to its subject: fewer requests, never more.
    if (leases.size > leasedBucketsMax) leases.delete(leases.keys().next().value!);
  };
  const take = async (key: string, limit: number, refill: number, want: number) => {
    const [taken] = await options.db.query<Taken>(
      // The take's commit does not wait for its WAL flush: a crash may forget the last
      // moment's takes, which at worst grants a few requests again.
      `select t.* from public.rate_limit_lease($1, $2, $3, $4) t, ${ASYNC_COMMIT}`,
      [key, limit, refill, want],
    );
    return taken!;
  };
  return async function rateLimit(c, next) {
    const tier = tierOf(c);
    const { limit, windowSeconds, lease: tierLease } = RATE_TIERS[tier];
    const refill = limit / windowSeconds;
    const key = `${scope}:${tier}:${options.subject(c)}`;
    /** The take running for this bucket, or a new one that adds what it grants to the lease. */
    const taking = () => {
      let running = inFlight.get(key);
      if (!running) {
        const want = leaseWanted(tierLease, leases.get(key)?.bucket);
        running = take(key, limit, refill, want).then((taken) => {
          if (taken.granted > 0) {
            const lease = leases.get(key);
            remember(key, {
              tokens: (lease?.tokens ?? 0) + taken.granted,
              bucket: taken.remaining,
            });
          }
          return taken;
        }).finally(() => inFlight.delete(key));
        inFlight.set(key, running);
      }
      return running;
    };
    let held: Lease | undefined;
    // Spends a token this instance holds; when none is left, one take refills the lease for
    // every request of the subject waiting at that moment (a take per request would lease
    // ten tokens each and strand them), and whoever finds it empty again takes again.
    for (;;) {
      held = leases.get(key);
      if (held && held.tokens >= 1) break;
      const taken = await taking();
      if (taken.granted < 1) {
        countDecision(metrics, `${scope}_${tier}`, false);
        const fields = c.get('logFields') as Record<string, unknown> | undefined;
        if (fields) fields.reason = 'rate_limited';
        throw new ProblemError(429, {
          detail: `more than ${limit} requests a minute of this kind; slow down`,
          headers: {
            ...headers(tier, taken.remaining),
            'Retry-After': retryAfterSeconds(taken.retry_after_ms),
          },
        });
      }
    }
    held.tokens -= 1;
    remember(key, held);
    countDecision(metrics, `${scope}_${tier}`, true);
    if (tierLease > 1 && held.tokens <= REFILL_AHEAD_AT && !inFlight.has(key)) {
      // The next lease is taken in the background while this one runs out, so a steady
      // caller's requests seldom wait for a take. Its failure is this request's no concern:
      // a request that then finds no token takes one itself, and answers for that.
      taking().catch(() => {});
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
