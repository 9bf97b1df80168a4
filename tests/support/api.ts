// The user API on a migrated test database, with a JWKS on loopback and tokens for any user.
import { afterAll, beforeAll } from 'vitest';
import { type ApiAppDeps, createApiApp } from '../../functions/api/index.ts';
import { systemClock } from '../../functions/_shared/clock.ts';
import { parseConfig } from '../../functions/_shared/config/index.ts';
import {
  type JwksServer,
  type SigningKey,
  signingKey,
  signToken,
  startJwksServer,
  supabaseClaims,
} from './jwks-server.ts';
import type { TestDatabase } from './database.ts';
import { capturedLogger } from './logs.ts';

export interface ApiHarness {
  /**
   * Calls `/api<path>` as `user` (a UUID), or without a token when null; `appMetadata` is
   * merged into the token's `app_metadata` (e.g. `{ role: 'admin' }`).
   */
  call(
    user: string | null,
    path: string,
    init?: RequestInit,
    appMetadata?: Record<string, unknown>,
  ): Promise<Response>;
}

/**
 * The api function as the local server mounts it (the path without `/functions/v1`),
 * its users' tokens signed with an ES256 key from a loopback JWKS. `deps` gives parts of
 * its own (a runtime with metrics), given the `SUPABASE_URL` its tokens are issued under.
 */
export function useApi(
  database: TestDatabase,
  deps: (supabaseUrl: string) => Partial<ApiAppDeps> = () => ({}),
): ApiHarness {
  let jwks: JwksServer;
  let key: SigningKey;
  let fetchApp: (request: Request) => Response | Promise<Response>;
  beforeAll(async () => {
    key = await signingKey('ES256', 'api-key');
    jwks = await startJwksServer([key]);
    const config = parseConfig({ SUPABASE_URL: jwks.url });
    const app = createApiApp({
      config,
      db: database.db,
      logger: capturedLogger().logger,
      clock: systemClock,
      ...deps(jwks.url),
    });
    fetchApp = (request) => app.fetch(request);
  });
  afterAll(() => jwks?.close());
  return {
    async call(user, path, init = {}, appMetadata = {}) {
      const headers = new Headers(init.headers);
      if (user !== null) {
        const claims = supabaseClaims(`${jwks.url}/auth/v1`, user);
        claims.app_metadata = { ...(claims.app_metadata as object), ...appMetadata };
        headers.set('authorization', `Bearer ${await signToken(claims, key)}`);
      }
      if (init.body !== undefined && !headers.has('content-type')) {
        headers.set('content-type', 'application/json');
      }
      return await fetchApp(new Request(`http://localhost/api${path}`, { ...init, headers }));
    },
  };
}

/** `init` for a JSON request. */
export const send = (method: string, body: unknown, headers: Record<string, string> = {}) => ({
  method,
  body: JSON.stringify(body),
  headers,
});
