// The admin function on a migrated test database: the service key, and tokens for users of
// any role signed with a key from a loopback JWKS (the anon key too).
import { afterAll, beforeAll, expect } from 'vitest';
import { type AdminAppDeps, createAdminApp } from '../../functions/admin/index.ts';
import type { Role } from '../../functions/_shared/auth/index.ts';
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

export const SERVICE_KEY = 'admin-test-service-key-0123456789abcdef';

/**
 * Who calls: nobody (no credentials), the anon key, the service key, or a signed-in user
 * with a role (`app_metadata.role`) and optionally their id.
 */
export type Caller =
  | 'nobody'
  | 'anon'
  | 'service'
  | { readonly role: Role; readonly sub?: string };

export interface AdminHarness {
  /** Calls `/admin<path>` as `caller`. */
  call(caller: Caller, path: string, init?: RequestInit): Promise<Response>;
  /** The JSON body of a 200 from `path` as `caller`. */
  json<T = Record<string, unknown>>(caller: Caller, path: string, init?: RequestInit): Promise<T>;
}

/** A user id per role, stable across calls. */
export const USER_IDS: Record<Role, string> = {
  admin: 'a0000000-0000-4000-8000-00000000000a',
  operator: 'b0000000-0000-4000-8000-00000000000b',
  support: 'c0000000-0000-4000-8000-00000000000c',
  user: 'd0000000-0000-4000-8000-00000000000d',
};

/**
 * The admin function as the local server mounts it (the path without `/functions/v1`).
 * `deps` adds to or replaces what the function is built with (e.g. `slos`); `env` adds
 * variables to its configuration (e.g. `GATEHOUSE_ENCRYPTION_KEY`).
 */
export function useAdmin(
  database: TestDatabase,
  deps: Partial<Omit<AdminAppDeps, 'config' | 'db'>> = {},
  env: Record<string, string> = {},
): AdminHarness {
  let jwks: JwksServer;
  let key: SigningKey;
  let fetchApp: (request: Request) => Response | Promise<Response>;
  beforeAll(async () => {
    key = await signingKey('ES256', 'admin-key');
    jwks = await startJwksServer([key]);
    const config = parseConfig({
      ...env,
      SUPABASE_URL: jwks.url,
      GATEHOUSE_SERVICE_KEY: SERVICE_KEY,
    });
    const app = createAdminApp({
      config,
      db: database.db,
      logger: capturedLogger().logger,
      clock: systemClock,
      ...deps,
    });
    fetchApp = (request) => app.fetch(request);
  });
  afterAll(() => jwks?.close());

  const credentials = async (caller: Caller): Promise<string | null> => {
    if (caller === 'nobody') return null;
    if (caller === 'service') return SERVICE_KEY;
    const issuer = `${jwks.url}/auth/v1`;
    if (caller === 'anon') {
      // What Supabase's anon key holds: no user, role anon.
      const now = Math.floor(Date.now() / 1000);
      return await signToken({ iss: issuer, role: 'anon', iat: now, exp: now + 3600 }, key);
    }
    const claims = supabaseClaims(issuer, caller.sub ?? USER_IDS[caller.role]);
    claims.app_metadata = { provider: 'email', role: caller.role };
    return await signToken(claims, key);
  };

  const call = async (caller: Caller, path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    const token = await credentials(caller);
    if (token !== null) headers.set('authorization', `Bearer ${token}`);
    if (init.body !== undefined && !headers.has('content-type')) {
      headers.set('content-type', 'application/json');
    }
    return await fetchApp(new Request(`http://localhost/admin${path}`, { ...init, headers }));
  };
  return {
    call,
    async json<T>(caller: Caller, path: string, init?: RequestInit) {
      const res = await call(caller, path, init);
      const body = await res.json();
      expect({ status: res.status, body }).toMatchObject({ status: 200 });
      return body as T;
    },
  };
}

/** `init` for a JSON request. */
export const send = (method: string, body: unknown, headers: Record<string, string> = {}) => ({
  method,
  body: JSON.stringify(body),
  headers,
});
