import {
  createLocalJWKSet,
  errors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
} from 'jose';
import { readStreamCapped } from '../streams/index.ts';

/** The JWKS could not be fetched and no keys are cached: not the caller's fault (503). */
export class KeysUnavailableError extends Error {
  override readonly name = 'KeysUnavailableError';
}

export interface JwksOptions {
  /** Where the keys are published, e.g. `<SUPABASE_URL>/auth/v1/.well-known/jwks.json`. */
  readonly url: string;
  /** Cached keys are refetched after this long (default `JWKS_MAX_AGE_MS`). */
  readonly maxAgeMs?: number;
  /**
   * A token naming a key the cache does not hold refetches the set at most once per this
   * long (default `JWKS_COOLDOWN_MS`), so tokens with made-up `kid`s cannot make us hammer
   * the JWKS host; within it they are refused as unknown keys.
   */
  readonly cooldownMs?: number;
  /** A failed fetch is not retried for this long (default `JWKS_RETRY_MS`). */
  readonly retryMs?: number;
  /** Deadline of one fetch (default `JWKS_TIMEOUT_MS`). */
  readonly timeoutMs?: number;
  /** Milliseconds on a monotonic clock (default `performance.now`). */
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
  /** Told about a fetch that failed (the cache keeps serving the keys it has). */
  readonly onFetchError?: (error: unknown) => void;
}

export const JWKS_MAX_AGE_MS = 10 * 60_000;
export const JWKS_COOLDOWN_MS = 30_000;
export const JWKS_RETRY_MS = 5_000;
export const JWKS_TIMEOUT_MS = 3_000;
/** A key set larger than this is refused: Supabase publishes a handful of keys. */
const MAX_JWKS_BYTES = 64 * 1024;

type KeyResolver = ReturnType<typeof createLocalJWKSet>;

/**
 * The signing keys of a JWKS URL, cached. Fetched on first use; refetched in the
 * background once `maxAgeMs` old (requests keep verifying with the cached keys meanwhile,
 * and if the host is down they go on doing so); refetched at once for a `kid` it does not
 * hold, at most once per `cooldownMs`, which is how a rotated-in key is picked up. One
 * fetch at a time, shared by every caller waiting on it.
 *
 * @example
 * const keys = createJwksCache({ url: 'https://ref.supabase.co/auth/v1/.well-known/jwks.json' });
 * await jwtVerify(token, keys.resolve, { algorithms: ['ES256', 'RS256'] });
 */
export function createJwksCache(options: JwksOptions) {
  const now = options.now ?? (() => performance.now());
  const maxAgeMs = options.maxAgeMs ?? JWKS_MAX_AGE_MS;
  const cooldownMs = options.cooldownMs ?? JWKS_COOLDOWN_MS;
  const retryMs = options.retryMs ?? JWKS_RETRY_MS;
  const timeoutMs = options.timeoutMs ?? JWKS_TIMEOUT_MS;
  const fetchKeys = options.fetch ?? fetch;
  let resolver: KeyResolver | null = null;
  let fetchedAt = -Infinity;
  let failedAt = -Infinity;
  let fetching: Promise<void> | null = null;
  let fetches = 0;

  const load = (): Promise<void> => {
    fetching ??= (async () => {
      fetches += 1;
      try {
        const response = await fetchKeys(options.url, {
          headers: { accept: 'application/json' },
          redirect: 'error',
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (response.status !== 200) {
          await response.body?.cancel();
          throw new Error(`JWKS answered ${response.status}`);
        }
        const bytes = await readStreamCapped(response.body, MAX_JWKS_BYTES);
        if (bytes === null) throw new Error('JWKS larger than 64 KiB');
        const set = JSON.parse(new TextDecoder().decode(bytes)) as JSONWebKeySet;
        resolver = createLocalJWKSet(set); // throws on a body that is not a key set
        fetchedAt = now();
      } catch (error) {
        failedAt = now();
        options.onFetchError?.(error);
        throw error;
      } finally {
        fetching = null;
      }
    })();
    return fetching;
  };

  const mayFetch = () => now() - failedAt >= retryMs;

  return {
    /** A key resolver for jose's `jwtVerify`. */
    async resolve(header: JWSHeaderParameters, token: FlattenedJWSInput) {
      if (resolver === null) {
        if (!mayFetch() && fetching === null) {
          throw new KeysUnavailableError('the signing keys could not be fetched');
        }
        await load().catch(() => {});
        if (resolver === null) {
          throw new KeysUnavailableError('the signing keys could not be fetched');
        }
      } else if (now() - fetchedAt >= maxAgeMs && mayFetch()) {
        void load().catch(() => {}); // stale: refresh behind this request
      }
      try {
        return await resolver(header, token);
      } catch (error) {
        const unknownKey = error instanceof errors.JWKSNoMatchingKey;
        if (!unknownKey || now() - fetchedAt < cooldownMs || !mayFetch()) throw error;
        await load().catch(() => {});
        return await resolver(header, token);
      }
    },
    /** How many fetches were started, for tests and health output. */
    fetches: () => fetches,
  };
}

export type JwksCache = ReturnType<typeof createJwksCache>;
