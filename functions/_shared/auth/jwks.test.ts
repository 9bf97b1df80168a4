import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type JwksServer,
  type SigningKey,
  signingKey,
  signToken,
  startJwksServer,
  supabaseClaims,
} from '../../../tests/support/jwks-server.ts';
import { createJwksCache } from './jwks.ts';
import { createJwtVerifier, InvalidTokenError, KeysUnavailableError } from './jwt.ts';

const USER = '0b7e4c1a-5f2d-4e8b-8c3a-9d1f2e3a4b5c';

let server: JwksServer;
let key: SigningKey;
let clock: number;

beforeEach(async () => {
  key = await signingKey('ES256', 'current');
  server = await startJwksServer([key]);
  clock = 0;
});
afterEach(() => server.close());

function verifierWithCache(options: { cooldownMs?: number; maxAgeMs?: number } = {}) {
  const cache = createJwksCache({
    url: server.jwksUrl,
    cooldownMs: options.cooldownMs ?? 30_000,
    maxAgeMs: options.maxAgeMs ?? 600_000,
    retryMs: 5_000,
    now: () => clock,
  });
  const verifier = createJwtVerifier({ secrets: [], jwks: cache, issuer: `${server.url}/auth/v1` });
  return { cache, verifier };
}

const tokenFrom = (signer: SigningKey) =>
  signToken(supabaseClaims(`${server.url}/auth/v1`, USER), signer);

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return await promise.then(() => null, (error: unknown) => error);
}

describe('the JWKS cache', () => {
  it('fetches the keys once and verifies every later token from the cache', async () => {
    const { verifier } = verifierWithCache();
    for (let i = 0; i < 20; i += 1) await verifier.verify(await tokenFrom(key));
    expect(server.requests).toBe(1);
  });

  it('does not refetch for tokens with made-up kids within the cooldown', async () => {
    const { verifier } = verifierWithCache();
    await verifier.verify(await tokenFrom(key));
    for (let i = 0; i < 50; i += 1) {
      clock += 100; // 5 s in all, inside the 30 s cooldown
      const junk = await signingKey('ES256', `junk-${i}`);
      const error = await failure(verifier.verify(await tokenFrom(junk)));
      expect(error).toMatchObject({ reason: 'unknown_key' });
    }
    expect(server.requests).toBe(1);
  });

  it('picks up a rotated-in key once the cooldown has passed', async () => {
    const { verifier } = verifierWithCache();
    await verifier.verify(await tokenFrom(key));
    const next = await signingKey('ES256', 'next');
    server.keys = [key, next];
    clock += 1_000;
    expect(await failure(verifier.verify(await tokenFrom(next)))).toBeInstanceOf(
      InvalidTokenError,
    );
    clock += 30_000;
    expect((await verifier.verify(await tokenFrom(next))).id).toBe(USER);
    expect(server.requests).toBe(2);
  });

  it('answers "keys unavailable" when the host is down and nothing is cached, without retrying on every request', async () => {
    server.failWith = 503;
    const { verifier } = verifierWithCache();
    const token = await tokenFrom(key);
    for (let i = 0; i < 10; i += 1) {
      expect(await failure(verifier.verify(token))).toBeInstanceOf(KeysUnavailableError);
    }
    expect(server.requests).toBe(1);
    server.failWith = null;
    clock += 5_000;
    expect((await verifier.verify(token)).id).toBe(USER);
    expect(server.requests).toBe(2);
  });

  it('keeps verifying with the cached keys when a refresh fails', async () => {
    const { verifier, cache } = verifierWithCache({ maxAgeMs: 60_000 });
    await verifier.verify(await tokenFrom(key));
    server.failWith = 500;
    clock += 61_000;
    // Each a new token (a verified one is remembered, and would not need the keys).
    expect((await verifier.verify(await tokenFrom(key))).id).toBe(USER); // refreshes behind it
    await expect.poll(() => server.requests).toBe(2);
    expect((await verifier.verify(await tokenFrom(key))).id).toBe(USER);
    expect(cache.fetches()).toBe(2); // the failed refresh is not retried at once
  });

  it('treats an answer that is not a key set as no keys (503), not as a bad token', async () => {
    for (const body of ['<html>Sign in</html>', '{"hello":"world"}', '{"keys":{}}']) {
      const { verifier } = verifierWithCache();
      server.rawBody = body;
      expect(await failure(verifier.verify(await tokenFrom(key)))).toBeInstanceOf(
        KeysUnavailableError,
      );
    }
  });
});
