/**
 * Signed-in users through a function app: the bearer token checked by `requireUser`, roles
 * by `requireRole`, and their SQL run by `asUser` under row-level security, on the real
 * migrated schema.
 */
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  asUser,
  createJwtVerifier,
  readAsUser,
  requireRole,
  requireUser,
  type UserEnv,
} from '../functions/_shared/auth/index.ts';
import { createFunctionApp } from '../functions/_shared/http/index.ts';
import { createLogger } from '../functions/_shared/log/index.ts';
import { capturedLogger } from './support/logs.ts';
import {
  type JwksServer,
  type SigningKey,
  signingKey,
  signToken,
  startJwksServer,
  supabaseClaims,
} from './support/jwks-server.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { problemOf } from './support/test-app.ts';

const database = useMigratedDatabase();
const ADA = '1d5e6f70-8a9b-4c0d-9e1f-2a3b4c5d6e7f';
const BOB = '2e6f7081-9bac-4d1e-8f20-3b4c5d6e7f80';

let jwks: JwksServer;
let key: SigningKey;
let app: Hono<UserEnv>;
const { logger, lines, entries } = capturedLogger();

beforeAll(async () => {
  key = await signingKey('ES256', 'k1');
  jwks = await startJwksServer([key]);
  const verifier = createJwtVerifier({
    secrets: [],
    jwks: { url: jwks.jwksUrl },
    issuer: `${jwks.url}/auth/v1`,
  });
  const functionApp = createFunctionApp('api', { logger, corsOrigins: [], bodyLimitBytes: 4096 });
  app = functionApp as unknown as Hono<UserEnv>;
  app.use('/*', requireUser(verifier));
  // No `where` of its own: the policies decide which vehicles the caller sees.
  app.get('/vehicles', async (c) => {
    const rows = await asUser(
      database.db,
      c.get('user'),
      (tx) => tx.query('select plate from vehicles order by plate'),
    );
    return c.json(rows);
  });
  app.get('/ops', requireRole('ops:read'), (c) => c.json({ role: c.get('user').role }));
  await database.db.query(
    `insert into vehicles (owner_user_id, plate) values ($1, 'ADA 1'), ($1, 'ADA 2'), ($2, 'BOB 1')`,
    [ADA, BOB],
  );
});
afterAll(() => jwks.close());

const call = async (path: string, token?: string) =>
  await app.request(`/api${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
const tokenFor = (sub: string, extra = {}) =>
  signToken(supabaseClaims(`${jwks.url}/auth/v1`, sub, extra), key);

describe('requireUser', () => {
  it('asks for a token when there is none: 401 with a bare Bearer challenge', async () => {
    const res = await call('/vehicles');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse"');
    expect(await problemOf(res)).toMatchObject({ status: 401, request_id: expect.any(String) });
  });

  it('refuses a bad token with invalid_token, logging why but never the token', async () => {
    const expired = await tokenFor(ADA, { exp: Math.floor(Date.now() / 1000) - 3600 });
    const res = await call('/vehicles', expired);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(
      /^Bearer realm="gatehouse", error="invalid_token", error_description="the token has expired"$/,
    );
    expect(entries().at(-1)).toMatchObject({
      status: 401,
      reason: 'invalid_token',
      auth_problem: 'expired',
    });
    expect(lines.join('\n')).not.toContain(expired.split('.')[2]!);
  });

  it('refuses an Authorization header that is not a bearer token', async () => {
    for (const authorization of ['Basic YWRhOnB3', 'Bearer', 'Bearer a b']) {
      const res = await app.request('/api/vehicles', { headers: { authorization } });
      expect(res.status).toBe(401);
    }
  });

  it('answers 503 with Retry-After when the signing keys cannot be fetched', async () => {
    const down = createJwtVerifier({
      secrets: [],
      jwks: { url: `${jwks.url}/nowhere` },
      issuer: `${jwks.url}/auth/v1`,
    });
    const logger = createLogger({ level: 'error', sink: () => {} });
    const other = createFunctionApp('api', { logger, corsOrigins: [], bodyLimitBytes: 64 });
    (other as unknown as Hono<UserEnv>).use('/*', requireUser(down));
    other.get('/me', (c) => c.text('unreachable'));
    const res = await other.request('/api/me', {
      headers: { authorization: `Bearer ${await tokenFor(ADA)}` },
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
  });
});

describe('asUser', () => {
  it("shows each user their own rows only, by the database's policies", async () => {
    const ada = await call('/vehicles', await tokenFor(ADA));
    expect(await ada.json()).toEqual([{ plate: 'ADA 1' }, { plate: 'ADA 2' }]);
    const bob = await call('/vehicles', await tokenFor(BOB));
    expect(await bob.json()).toEqual([{ plate: 'BOB 1' }]);
  });

  it('runs as authenticated whatever role the claims would name', async () => {
    const user = {
      id: ADA,
      role: 'user' as const,
      email: null,
      claims: { sub: ADA, role: 'service_role' },
    };
    const seen = await asUser(database.db, user, (tx) =>
      tx.query<{ role: string; plates: number }>(
        `select current_user as role, (select count(*)::int from vehicles) as plates`,
      ));
    expect(seen).toEqual([{ role: 'authenticated', plates: 2 }]);
  });
});

describe('readAsUser', () => {
  const user = (id: string) => ({
    id,
    role: 'user' as const,
    email: null,
    claims: { sub: id, role: 'service_role' },
  });

  it('runs its one statement as authenticated, under the policies, in one batch', async () => {
    const seen = await readAsUser(
      database.db,
      user(BOB),
      (q) =>
        q.query<{ role: string; plates: string[] }>(
          `select current_user as role, array(select plate from vehicles order by plate) as plates`,
        ),
    );
    expect(seen).toEqual([{ role: 'authenticated', plates: ['BOB 1'] }]);
    // The role and claims were the batch's own: the pool's next statement is itself again.
    const [after] = await database.db.query<{ role: string }>('select current_user as role');
    expect(after!.role).not.toBe('authenticated');
  });

  it('names the caller by its subject and its claims, for that batch only', async () => {
    const settings = `select current_setting('request.jwt.claim.sub', true) as sub,
                             current_setting('request.jwt.claims', true)::jsonb ->> 'sub' as claimed`;
    const seen = await readAsUser(database.db, user(ADA), (q) => q.query(settings));
    expect(seen).toEqual([{ sub: ADA, claimed: ADA }]);
    const inTransaction = await asUser(database.db, user(BOB), (tx) => tx.query(settings));
    expect(inTransaction).toEqual([{ sub: BOB, claimed: BOB }]);
    // Set for the transaction alone: the pool's next statement names nobody.
    const [after] = await database.db.query<{ sub: string | null }>(
      `select nullif(current_setting('request.jwt.claim.sub', true), '') as sub`,
    );
    expect(after!.sub).toBeNull();
  });

  it('refuses a second statement: a read of more than one goes through asUser', async () => {
    await expect(
      readAsUser(database.db, user(ADA), async (q) => {
        await q.query('select 1');
        return await q.query('select 2');
      }),
    ).rejects.toThrow('readAsUser runs one statement');
  });
});

describe('requireRole', () => {
  it('lets a role with the permission through and refuses the others with 403', async () => {
    const user = await call('/ops', await tokenFor(ADA));
    expect(user.status).toBe(403);
    expect(user.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    const support = await call(
      '/ops',
      await tokenFor(ADA, { app_metadata: { role: 'support' } }),
    );
    expect(await support.json()).toEqual({ role: 'support' });
  });
});
