import type { Config } from '../../functions/_shared/config/index.ts';
import type { Db } from '../../functions/_shared/db/types.ts';
import { AUTH_PREFIX, createLocalAuthApp } from './app.ts';
import { loadLocalAuthKeys } from './keys.ts';
import { LOCAL_AUTH_SCHEMA } from './schema.ts';

export { AUTH_PREFIX, createLocalAuthApp } from './app.ts';
export { loadLocalAuthKeys, LOCAL_AUTH_FILE } from './keys.ts';
export { LOCAL_AUTH_SCHEMA } from './schema.ts';

export interface LocalAuth {
  /** Serves `/auth/v1/...`. */
  readonly app: { fetch(request: Request): Response | Promise<Response> };
  /** What clients send as `apikey` (printed as `SUPABASE_ANON_KEY`). */
  readonly anonKey: string;
  /** The configuration with `SUPABASE_URL` pointing at this server, so the API trusts it. */
  readonly config: Config;
}

/**
 * Whether the local server signs users in itself: in development, when no Supabase project
 * is configured to do it (no `SUPABASE_URL`, `SUPABASE_JWKS_URL` or `SUPABASE_JWT_SECRET`).
 * Never in production.
 */
export function wantsLocalAuth(config: Config): boolean {
  return config.env !== 'production' && config.supabase.url === null &&
    config.supabase.jwksUrl === null && config.supabase.jwtSecrets.length === 0;
}

/**
 * Sets up the local sign-in on `db` (its tables, where missing) with the key kept in the
 * data folder, for the server at `base`. Call only when {@link wantsLocalAuth} holds.
 */
export async function startLocalAuth(config: Config, db: Db, base: string): Promise<LocalAuth> {
  if (!wantsLocalAuth(config)) throw new Error('local sign-in is for development only');
  await db.exec(LOCAL_AUTH_SCHEMA);
  const issuer = `${base}${AUTH_PREFIX}`;
  const keys = await loadLocalAuthKeys(config.dataDir, issuer);
  return {
    app: createLocalAuthApp({ db, keys, issuer }),
    anonKey: keys.anonKey,
    config: { ...config, supabase: { ...config.supabase, url: base } },
  };
}
