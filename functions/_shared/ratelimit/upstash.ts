import type { EdgeLimiter } from './edge.ts';
import { Ratelimit } from '@upstash/ratelimit';
import { Redis } from '@upstash/redis';

/**
 * The optional edge tier of rate limiting: a per-client sliding window kept in Upstash Redis,
 * checked before any database work so abusive traffic is shed without costing a database
 * round trip. The database limits (`rate_limit_take`) stay the authority; this tier only
 * takes load off them, which decides its failure policy:
 *
 * **Fail open.** When Upstash errors, refuses the token, or has not answered within
 * `timeoutMs`, the check allows the request, marks the result `degraded: true` and passes the
 * cause to `onError` so it is logged and counted. Failing closed would turn an outage of an
 * optional cache into an outage of intake; the database limits still apply behind it.
 */

/** Long enough for an Upstash round trip from a nearby region, short next to a webhook's budget. */
export const DEFAULT_UPSTASH_TIMEOUT_MS = 200;

export const DEFAULT_UPSTASH_PREFIX = 'gatehouse:ratelimit';

export interface UpstashLimiterOptions {
  /** The database's REST URL (`UPSTASH_REDIS_REST_URL`). */
  url: string;
  /** Its REST token (`UPSTASH_REDIS_REST_TOKEN`). */
  token: string;
  /** Requests one key may make in any window of `windowSeconds`. */
  limit: number;
  /** Length of the sliding window. */
  windowSeconds: number;
  /** Namespace of the Redis keys (`<prefix>:<key>:<window number>`). */
  prefix?: string;
  /** Longest a check waits for Upstash before it fails open; default 200 ms. */
  timeoutMs?: number;
  /** Receives the cause of every degraded check. Must not throw. */
  onError?: (error: UpstashLimiterError) => void;
}

export interface UpstashCheckResult {
  allowed: boolean;
  /** Requests left in the window; `limit` when degraded, as nothing was counted. */
  remaining: number;
  /** When denied, how long until a retry can be allowed; 0 when allowed. */
  retryAfterMs: number;
  /** True when Upstash did not answer and the request was allowed without being counted. */
  degraded: boolean;
}

export interface UpstashLimiter extends EdgeLimiter {
  /** Counts one request for `key` (a client IP, say). Never rejects because of Upstash. */
  check(key: string): Promise<UpstashCheckResult>;
}

/** Why a check was degraded: Upstash was too slow, or it answered with or threw an error. */
export class UpstashLimiterError extends Error {
  override readonly name = 'UpstashLimiterError';
  constructor(message: string, readonly reason: 'timeout' | 'failed') {
    super(message);
  }
}

/**
 * Creates a limiter on `@upstash/ratelimit`'s sliding window. Instances that share `url`,
 * `token` and `prefix` share one budget per key, however many edge instances run.
 *
 * @example
 * ```ts
 * const limiter = createUpstashLimiter({
 *   url: config.upstashRestUrl,
 *   token: config.upstashRestToken,
 *   limit: 120,
 *   windowSeconds: 60,
 *   onError: (error) => log.warn('edge rate limit degraded', { reason: error.reason, error }),
 * });
 * const { allowed, retryAfterMs } = await limiter.check(clientIp);
 * if (!allowed) throw tooManyRequests(retryAfterMs);
 * ```
 */
export function createUpstashLimiter(options: UpstashLimiterOptions): UpstashLimiter {
  const { url, token, limit, windowSeconds, onError } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_UPSTASH_TIMEOUT_MS;
  const prefix = options.prefix ?? DEFAULT_UPSTASH_PREFIX;
  if (url === '' || token === '') {
    throw new TypeError('createUpstashLimiter: url and token must not be empty');
  }
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`createUpstashLimiter: limit must be a positive integer, got ${limit}`);
  }
  const windowMs = Math.round(windowSeconds * 1000);
  if (!Number.isFinite(windowSeconds) || windowMs < 1) {
    throw new RangeError(
      `createUpstashLimiter: windowSeconds must be positive, got ${windowSeconds}`,
    );
  }
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`createUpstashLimiter: timeoutMs must be positive, got ${timeoutMs}`);
  }

  // @upstash/redis 1.x calls the global fetch and has no option to inject one (only a whole
  // custom Requester), so this factory takes no `fetch`.
  const redis = new Redis({
    url,
    token,
    // The client retries network errors 5 times with backoff by default (`retry: false`
    // still means one retry); none of that fits in the budget, so try once.
    retry: { retries: 0 },
    // Called per HTTP request: a request that outlives the budget is aborted rather than
    // left holding a connection after the check has already failed open.
    signal: () => AbortSignal.timeout(timeoutMs),
  });

  const ratelimit = new Ratelimit({
    redis,
    limiter: Ratelimit.slidingWindow(limit, `${windowMs} ms`),
    prefix,
    // The deadline is enforced in `check`, where a timeout can be reported.
    timeout: 0,
    // Analytics would add Redis writes to every check.
    analytics: false,
    // The ephemeral cache denies a key locally until the end of the current window. The
    // sliding window can re-admit it sooner, so instances would disagree; and the cache is a
    // Map that only shrinks when a key returns, so a long-lived server under an attack that
    // rotates IPs would grow it without bound. A denied key costs one Redis call instead.
    ephemeralCache: false,
  });

  function degraded(error: UpstashLimiterError): UpstashCheckResult {
    onError?.(error);
    return { allowed: true, remaining: limit, retryAfterMs: 0, degraded: true };
  }

  return {
    async check(key: string): Promise<UpstashCheckResult> {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      try {
        const response = await Promise.race([ratelimit.limit(key), deadline]);
        if (response === 'timeout') {
          return degraded(
            new UpstashLimiterError(`Upstash did not answer within ${timeoutMs} ms`, 'timeout'),
          );
        }
        if (response.success) {
          return { allowed: true, remaining: response.remaining, retryAfterMs: 0, degraded: false };
        }
        // `reset` is the end of the current fixed window. At that exact millisecond the
        // previous window still weighs fully in the sliding count, so the first moment a
        // request can pass is one millisecond later.
        const retryAfterMs = Math.max(1, response.reset + 1 - Date.now());
        return { allowed: false, remaining: 0, retryAfterMs, degraded: false };
      } catch (error) {
        // The per-request abort signal can fire just before the deadline; it is a timeout too.
        const reason = error instanceof Error && error.name === 'TimeoutError'
          ? 'timeout'
          : 'failed';
        return degraded(
          new UpstashLimiterError(`Upstash rate limit check failed: ${describe(error)}`, reason),
        );
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/**
 * @upstash/redis appends ", command was: <JSON>" to its errors, which would put the whole Lua
 * script and the key (a client IP) in every log line; the error is reported without it (and
 * without `cause`, which the logger would serialize in full).
 */
function describe(error: unknown): string {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const commandAt = message.indexOf(', command was:');
  return commandAt === -1 ? message : message.slice(0, commandAt);
}
