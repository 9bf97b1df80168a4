import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import { createJwtVerifier, type JwtVerifier } from './jwt.ts';

/** Where Supabase Auth publishes a project's signing keys, below its URL. */
const JWKS_PATH = '/auth/v1/.well-known/jwks.json';

/** What a user-token verifier needs, from configuration. */
export interface JwtSettings {
  readonly secrets: readonly string[];
  readonly jwksUrl: string | null;
  readonly issuer: string;
}

/**
 * The user-token settings `config` implies: HS256 secrets from `SUPABASE_JWT_SECRET`; the
 * JWKS from `SUPABASE_JWKS_URL`, else `SUPABASE_URL` + `/auth/v1/.well-known/jwks.json`; the
 * issuer `<SUPABASE_URL>/auth/v1` (or the JWKS URL without its well-known suffix). Null
 * when no key or no issuer can be had: user sign-in is then not configured, and every user
 * route refuses (fail closed).
 *
 * @example
 * const settings = jwtSettings(config);
 * const verifier = settings && createJwtVerifier({ ...settings, jwks: settings.jwksUrl && { url: settings.jwksUrl } });
 */
export function jwtSettings(config: Pick<Config, 'supabase'>): JwtSettings | null {
  const url = config.supabase.url?.replace(/\/+$/, '') ?? null;
  const jwksUrl = config.supabase.jwksUrl ?? (url === null ? null : `${url}${JWKS_PATH}`);
  const issuer = url !== null
    ? `${url}/auth/v1`
    : jwksUrl?.endsWith(JWKS_PATH)
    ? `${jwksUrl.slice(0, -JWKS_PATH.length)}/auth/v1`
    : null;
  const secrets = config.supabase.jwtSecrets;
  if (issuer === null || (secrets.length === 0 && jwksUrl === null)) return null;
  return { secrets, jwksUrl, issuer };
}

/**
 * The user-token verifier `config` implies (see `jwtSettings`), a failed JWKS fetch logged
 * as a warning; null, with a log line saying so, when sign-in is not configured (an error
 * in production, a warning elsewhere), so the function refuses users with 503.
 *
 * @example
 * const verifier = configuredVerifier(config, logger, 'every /api route answers 503 until then');
 */
export function configuredVerifier(
  config: Pick<Config, 'supabase' | 'env'>,
  logger: Logger,
  consequence: string,
): JwtVerifier | null {
  const settings = jwtSettings(config);
  if (settings === null) {
    const log = config.env === 'production' ? logger.error : logger.warn;
    log.call(
      logger,
      'user sign-in is not configured: set SUPABASE_URL (or SUPABASE_JWKS_URL, or ' +
        `SUPABASE_JWT_SECRET with SUPABASE_URL); ${consequence}`,
    );
    return null;
  }
  return createJwtVerifier({
    secrets: settings.secrets,
    jwks: settings.jwksUrl === null ? null : {
      url: settings.jwksUrl,
      onFetchError: (error) =>
        logger.warn('the signing keys could not be fetched', { url: settings.jwksUrl, error }),
    },
    issuer: settings.issuer,
  });
}
