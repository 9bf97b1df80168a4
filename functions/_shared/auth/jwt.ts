import { decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose';
import { createJwksCache, type JwksCache, type JwksOptions, KeysUnavailableError } from './jwks.ts';
import { type Role, roleOf } from './roles.ts';

/** Why a token was refused; the log carries it, the client gets `invalid_token`. */
export type InvalidTokenReason =
  | 'malformed'
  | 'algorithm'
  | 'unknown_key'
  | 'signature'
  | 'expired'
  | 'not_yet_valid'
  | 'claims';

/** A token that does not prove who the caller is: 401 `invalid_token`. */
export class InvalidTokenError extends Error {
  override readonly name = 'InvalidTokenError';
  constructor(readonly reason: InvalidTokenReason, message: string) {
    super(message);
  }
}

/** The keys to verify with could not be had (the JWKS host is down): 503, not 401. */
export { KeysUnavailableError };

/** The caller a verified token names. */
export interface AuthUser {
  /** `sub`: the user's id (a UUID on Supabase). */
  readonly id: string;
  /** From `app_metadata.role` (never `user_metadata`, which users may edit). */
  readonly role: Role;
  readonly email: string | null;
  /** Every claim, as Postgres sees them in `request.jwt.claims`. */
  readonly claims: Readonly<JWTPayload>;
}

export interface JwtVerifierOptions {
  /** Legacy HS256 secrets (`SUPABASE_JWT_SECRET`, a list so it rotates); [] for none. */
  readonly secrets: readonly string[];
  /** The asymmetric keys (ES256, RS256) and how they are cached; null for none. */
  readonly jwks: JwksCache | Pick<JwksOptions, 'url' | 'onFetchError'> | null;
  /** The `iss` every token must carry: `<SUPABASE_URL>/auth/v1`. */
  readonly issuer: string;
  /** The `aud` every token must carry (default `authenticated`). */
  readonly audience?: string;
  /** Leeway for `exp` and `nbf`, in seconds (default 30: clocks drift). */
  readonly clockToleranceSeconds?: number;
  /** The time `exp` and `nbf` are judged at (default the system clock). */
  readonly currentDate?: () => Date;
}

/** Verified tokens remembered per verifier. */
export const VERIFIED_CACHE_SIZE = 10_000;
/**
 * Longest token remembered: Supabase's are about 1 KiB, but users can pad theirs through
 * `user_metadata`, and 10,000 padded tokens with their claims would hold over 100 MB. A
 * longer one is verified each time it comes.
 */
export const VERIFIED_CACHE_MAX_TOKEN_BYTES = 2 * 1024;
/** Longer tokens are refused unread: Supabase's are well under 2 KiB. */
export const MAX_TOKEN_BYTES = 8 * 1024;
const ASYMMETRIC = ['ES256', 'RS256'] as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Verifies Supabase user tokens: the signature (HS256 with a configured secret, or ES256 /
 * RS256 with a key from the JWKS, chosen by the token's `alg` and never across: a public
 * key is never used as an HMAC secret), then `exp`, `nbf`, `iss`, `aud`, a `sub` that is a
 * UUID and `role: authenticated`. Throws {@link InvalidTokenError} for a token that proves
 * nothing (unsigned, `alg: none`, forged, expired, for another audience or issuer) and
 * {@link KeysUnavailableError} when the keys cannot be fetched.
 *
 * @example
 * const verifier = createJwtVerifier({
 *   secrets: config.supabase.jwtSecrets,
 *   jwks: { url: `${config.supabase.url}/auth/v1/.well-known/jwks.json` },
 *   issuer: `${config.supabase.url}/auth/v1`,
 * });
 * const user = await verifier.verify(token);
 */
export function createJwtVerifier(options: JwtVerifierOptions) {
  if (options.secrets.length === 0 && options.jwks === null) {
    throw new Error('a JWT verifier needs SUPABASE_JWT_SECRET or a JWKS URL');
  }
  const jwks = options.jwks === null
    ? null
    : 'resolve' in options.jwks
    ? options.jwks
    : createJwksCache(options.jwks);
  const secrets = options.secrets.map((secret) => new TextEncoder().encode(secret));
  const tolerance = options.clockToleranceSeconds ?? 30;
  const claimChecks = () => ({
    issuer: options.issuer,
    audience: options.audience ?? 'authenticated',
    clockTolerance: tolerance,
    requiredClaims: ['exp', 'sub'],
    ...(options.currentDate ? { currentDate: options.currentDate() } : {}),
  });

  const verifySignedBy = async (token: string, alg: string): Promise<JWTPayload> => {
    const checks = claimChecks();
    if (alg === 'HS256') {
      if (secrets.length === 0) {
        throw new InvalidTokenError('algorithm', 'HS256 tokens are not accepted here');
      }
      let last: unknown;
      for (const secret of secrets) {
        try {
          return (await jwtVerify(token, secret, { ...checks, algorithms: ['HS256'] })).payload;
        } catch (error) {
          // Another secret may have signed it (rotation); a claim failure is final.
          if (!(error instanceof errors.JWSSignatureVerificationFailed)) throw error;
          last = error;
        }
      }
      throw last;
    }
    if ((ASYMMETRIC as readonly string[]).includes(alg) && jwks !== null) {
      return (await jwtVerify(token, jwks.resolve, { ...checks, algorithms: [...ASYMMETRIC] }))
        .payload;
    }
    throw new InvalidTokenError('algorithm', `tokens signed with ${alg} are not accepted`);
  };

  // Tokens verified before, until they expire: a PWA sends the same token for an hour,
  // and checking an ES256 signature costs more than the query it guards.
  const verified = new Map<string, AuthUser>();
  const nowSeconds = () => (options.currentDate?.() ?? new Date()).getTime() / 1000;

  return {
    async verify(token: string): Promise<AuthUser> {
      if (token.length > MAX_TOKEN_BYTES) {
        throw new InvalidTokenError('malformed', 'the token is too long');
      }
      const known = verified.get(token);
      if (known !== undefined) {
        if (nowSeconds() - tolerance < (known.claims.exp ?? 0)) return known;
        verified.delete(token);
      }
      let alg: string;
      try {
        const header = decodeProtectedHeader(token);
        if (typeof header.alg !== 'string') throw new Error('no alg');
        alg = header.alg;
      } catch {
        throw new InvalidTokenError('malformed', 'the token is not a signed JWT');
      }
      let payload: JWTPayload;
      try {
        payload = await verifySignedBy(token, alg);
      } catch (error) {
        throw asTokenError(error);
      }
      if (typeof payload.sub !== 'string' || !UUID.test(payload.sub)) {
        throw new InvalidTokenError('claims', 'the token names no user');
      }
      if (payload.role !== 'authenticated') {
        throw new InvalidTokenError('claims', "the token is not a signed-in user's");
      }
      const user: AuthUser = {
        id: payload.sub.toLowerCase(),
        role: roleOf(payload),
        email: typeof payload.email === 'string' ? payload.email : null,
        claims: payload,
      };
      // Bounded: the oldest entry goes first (a Map keeps insertion order).
      if (token.length <= VERIFIED_CACHE_MAX_TOKEN_BYTES) {
        if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value!);
        verified.set(token, user);
      }
      return user;
    },
  };
}

export type JwtVerifier = ReturnType<typeof createJwtVerifier>;

function asTokenError(error: unknown): Error {
  if (error instanceof InvalidTokenError || error instanceof KeysUnavailableError) return error;
  if (error instanceof errors.JWTExpired) {
    return new InvalidTokenError('expired', 'the token has expired');
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    return error.claim === 'nbf'
      ? new InvalidTokenError('not_yet_valid', 'the token is not valid yet')
      : new InvalidTokenError('claims', `the token's ${error.claim} claim is not accepted`);
  }
  if (
    error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys
  ) {
    return new InvalidTokenError('unknown_key', 'the token names no known signing key');
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return new InvalidTokenError('algorithm', "the token's algorithm is not accepted");
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new InvalidTokenError('signature', "the token's signature does not verify");
  }
  if (error instanceof errors.JOSEError) {
    return new InvalidTokenError('malformed', 'the token is not a valid JWT');
  }
  if (error instanceof TypeError) {
    // jose's key import refuses a key of the wrong type for the algorithm.
    return new InvalidTokenError('algorithm', "the token's algorithm does not fit its key");
  }
  return error as Error;
}
