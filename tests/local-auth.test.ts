/**
 * Local sign-in without Docker: `npm start` in development answers Supabase Auth's
 * endpoints, so a real `@supabase/supabase-js` client signs up, signs in, refreshes and
 * signs out against it and calls the user API with its session through `functions.invoke`,
 * seeing only its own rows. In production none of it is there.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from './support/local-server.ts';
import { clientEnv, createTestDatabase } from './support/database.ts';
import { waitForOutput } from './support/process.ts';

let server: LocalServer;
let anonKey: string;

beforeAll(async () => {
  server = await startLocalServer();
  const banner = await waitForOutput(server.gatehouse, /SUPABASE_ANON_KEY=(\S+)/);
  anonKey = /SUPABASE_ANON_KEY=(\S+)/.exec(banner)![1]!;
}, 120_000);
afterAll(() => server?.stop());

/** Node 20 has no WebSocket; these tests never open a realtime channel. */
class NoRealtime {
  constructor() {
    throw new Error('realtime is not used here');
  }
}

const client = () =>
  createClient(server.base, anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: NoRealtime as never },
  });

async function signedUp(email: string): Promise<SupabaseClient> {
  const supabase = client();
  const { data, error } = await supabase.auth.signUp({
    email,
    password: 'correct horse',
    options: { data: { name: email.split('@')[0] } },
  });
  expect(error).toBeNull();
  expect(data.user?.user_metadata).toEqual({ name: email.split('@')[0] });
  expect(data.session?.access_token).toEqual(expect.any(String));
  return supabase;
}

describe('local sign-in with @supabase/supabase-js', () => {
  it('prints the anon key and the auth URL at start', () => {
    const output = server.gatehouse.output();
    expect(output).toContain(`Auth       ${server.base}/auth/v1`);
    expect(output).toContain(`SUPABASE_URL=${server.base}`);
  });

  it('signs up, signs in, reads the user, refreshes and signs out', async () => {
    await signedUp('ada@example.com');
    const supabase = client();
    const wrong = await supabase.auth.signInWithPassword({
      email: 'ada@example.com',
      password: 'wrong horse',
    });
    expect(wrong.error?.message).toBe('Invalid login credentials');
    const { data, error } = await supabase.auth.signInWithPassword({
      email: 'ADA@example.com',
      password: 'correct horse',
    });
    expect(error).toBeNull();
    expect(data.user?.email).toBe('ada@example.com');
    const user = await supabase.auth.getUser();
    expect(user.data.user?.id).toBe(data.user!.id);
    const refreshed = await supabase.auth.refreshSession();
    expect(refreshed.error).toBeNull();
    expect(refreshed.data.session?.refresh_token).not.toBe(data.session!.refresh_token);
    // The old refresh token was used up by the rotation.
    const reuse = await client().auth.refreshSession({
      refresh_token: data.session!.refresh_token,
    });
    expect(reuse.error).not.toBeNull();
    const current = refreshed.data.session!.refresh_token;
    expect((await supabase.auth.signOut()).error).toBeNull();
    const afterSignOut = await client().auth.refreshSession({ refresh_token: current });
    expect(afterSignOut.error).not.toBeNull();
  });

  it('refuses a second sign-up with the same email', async () => {
    await signedUp('bob@example.com');
    const again = await client().auth.signUp({ email: 'bob@example.com', password: 'another one' });
    expect(again.error?.message).toBe('User already registered');
  });

  it('calls the user API with the session, and each user sees only their own rows', async () => {
    const cleo = await signedUp('cleo@example.com');
    const dan = await signedUp('dan@example.com');
    const created = await cleo.functions.invoke('api/vehicles', {
      method: 'POST',
      body: { plate: 'KCL 001C' },
    });
    expect(created.error).toBeNull();
    expect(created.data).toMatchObject({ plate: 'KCL 001C', version: 1 });
    const me = await cleo.functions.invoke('api/me', { method: 'GET' });
    expect(me.data).toMatchObject({ email: 'cleo@example.com', role: 'user' });
    const cleos = await cleo.functions.invoke('api/vehicles', { method: 'GET' });
    expect(cleos.data.items.map((item: { plate: string }) => item.plate)).toEqual(['KCL 001C']);
    const dans = await dan.functions.invoke('api/vehicles', { method: 'GET' });
    expect(dans.data.items).toEqual([]);
    const peek = await dan.functions.invoke(`api/vehicles/${created.data.id}`, { method: 'GET' });
    expect(peek.response?.status).toBe(404);
  });

  it('slows down password guessing: 10 a minute per address, then 429', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 11; i += 1) {
      const res = await fetch(`${server.base}/auth/v1/token?grant_type=password`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          apikey: anonKey,
          'x-forwarded-for': '203.0.113.9',
        },
        body: JSON.stringify({ email: 'ada@example.com', password: `guess ${i}` }),
      });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(await res.json()).toMatchObject({ error_code: 'over_request_rate_limit' });
      }
    }
    expect(statuses).toEqual([...Array(10).fill(400), 429]);
  });

  it('refuses a body larger than any credentials with 413', async () => {
    // A streamed body (chunked): no length to judge by, so it is counted as it is read.
    const res = await fetch(`${server.base}/auth/v1/signup`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        apikey: anonKey,
      },
      body: new Blob([
        JSON.stringify({ email: 'big@example.com', password: 'x'.repeat(64 * 1024) }),
      ])
        .stream(),
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 413, error_code: 'request_too_large' });
  });

  it('wants the anon key, as a Supabase project does', async () => {
    const res = await fetch(`${server.base}/auth/v1/token?grant_type=password`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', password: 'correct horse' }),
    });
    expect(res.status).toBe(401);
  });
});

describe('in production', () => {
  it('serves no auth endpoint at all', async () => {
    // Production wants a real database: a fresh one on this run's engine.
    const database = await createTestDatabase();
    const production = await startLocalServer({
      GATEHOUSE_ENV: 'production',
      DATABASE_URL: database.url,
      ...clientEnv(database.kind),
      GATEHOUSE_SERVICE_KEY: 'production-service-key-of-enough-length-0123456789',
      METRICS_TOKEN: 'production-metrics-token-0123456789',
      WHATSAPP_VERIFY_TOKEN: 'verify',
      WHATSAPP_APP_SECRET: 'app-secret',
      STRIPE_WEBHOOK_SECRET: 'whsec_production',
      USSD_PATH_TOKEN: 'ussd-path-token-0123456789',
    });
    try {
      for (const path of ['signup', 'token?grant_type=password', 'user', '.well-known/jwks.json']) {
        const res = await fetch(`${production.base}/auth/v1/${path}`, {
          method: path === 'user' || path.startsWith('.') ? 'GET' : 'POST',
          headers: { 'content-type': 'application/json', apikey: anonKey },
          body: path === 'user' || path.startsWith('.') ? undefined : '{}',
        });
        expect(res.status, path).toBe(404);
      }
      expect(production.gatehouse.output()).not.toContain('SUPABASE_ANON_KEY');
    } finally {
      await production.stop();
      await database.drop();
    }
  }, 120_000);
});
