import { createHmac } from 'node:crypto';
import { exportSPKI } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  b64url,
  type JwksServer,
  type SigningKey,
  signingKey,
  signToken,
  startJwksServer,
  supabaseClaims,
} from '../../../tests/support/jwks-server.ts';
import { createJwtVerifier, InvalidTokenError, type InvalidTokenReason } from './jwt.ts';

const USER = '6f1c2a8e-1d4b-4c5e-9a7f-3b2d1e0f9a8b';
const SECRET = 'legacy-hs256-secret-of-at-least-32-chars';
const OLD_SECRET = 'the-secret-before-the-last-rotation!!!';

let jwks: JwksServer;
let es: SigningKey;
let rs: SigningKey;
let issuer: string;

beforeAll(async () => {
  es = await signingKey('ES256', 'es-key-1');
  rs = await signingKey('RS256', 'rs-key-1');
  jwks = await startJwksServer([es, rs]);
  issuer = `${jwks.url}/auth/v1`;
});
afterAll(() => jwks.close());

const verifier = (secrets: string[] = [SECRET, OLD_SECRET]) =>
  createJwtVerifier({ secrets, jwks: { url: jwks.jwksUrl }, issuer });

async function refusal(token: string, secrets?: string[]): Promise<InvalidTokenReason> {
  const error = await verifier(secrets).verify(token).then(
    () => null,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(InvalidTokenError);
  return (error as InvalidTokenError).reason;
}

/** A token built by hand: any header, any payload, any signature bytes. */
function handMade(header: object, payload: object, signature = ''): string {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${signature}`;
}

describe('user tokens that prove who the caller is', () => {
  it('accepts an ES256 token signed with a key from the JWKS', async () => {
    const user = await verifier().verify(await signToken(supabaseClaims(issuer, USER), es));
    expect(user).toMatchObject({ id: USER, role: 'user', email: 'ada@example.com' });
    expect(user.claims.session_id).toEqual(expect.any(String));
  });

  it('accepts an RS256 token signed with a key from the JWKS', async () => {
    const user = await verifier().verify(await signToken(supabaseClaims(issuer, USER), rs));
    expect(user.id).toBe(USER);
  });

  it('accepts a legacy HS256 token, with the current secret or the one before it', async () => {
    for (const secret of [SECRET, OLD_SECRET]) {
      const token = await signToken(supabaseClaims(issuer, USER), { secret });
      expect((await verifier().verify(token)).id).toBe(USER);
    }
  });

  it('tolerates 30 s of clock drift on exp, and no more', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await signToken(supabaseClaims(issuer, USER, { exp: now - 10 }), es);
    expect((await verifier().verify(token)).id).toBe(USER);
    const late = await signToken(supabaseClaims(issuer, USER, { exp: now - 40 }), es);
    const error = await verifier().verify(late).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ reason: 'expired' });
  });

  it('remembers a verified token only until it expires', async () => {
    let now = Date.now();
    const remembering = createJwtVerifier({
      secrets: [],
      jwks: { url: jwks.jwksUrl },
      issuer,
      currentDate: () => new Date(now),
    });
    const exp = Math.floor(now / 1000) + 60;
    const token = await signToken(supabaseClaims(issuer, USER, { exp }), es);
    expect((await remembering.verify(token)).id).toBe(USER);
    expect((await remembering.verify(token)).id).toBe(USER);
    now += 120_000; // past exp and the 30 s of drift
    const error = await remembering.verify(token).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ reason: 'expired' });
  });

  it('takes the role from app_metadata, never from user_metadata', async () => {
    const asAdmin = supabaseClaims(issuer, USER, {
      app_metadata: { provider: 'email', role: 'admin' },
    });
    expect((await verifier().verify(await signToken(asAdmin, es))).role).toBe('admin');
    const selfPromoted = supabaseClaims(issuer, USER, { user_metadata: { role: 'admin' } });
    expect((await verifier().verify(await signToken(selfPromoted, es))).role).toBe('user');
    const unknownRole = supabaseClaims(issuer, USER, { app_metadata: { role: 'root' } });
    expect((await verifier().verify(await signToken(unknownRole, es))).role).toBe('user');
  });
});

describe('the JWT attack suite: each refused with invalid_token', () => {
  it('refuses an unsigned token (alg: none)', async () => {
    const token = handMade({ alg: 'none', typ: 'JWT' }, supabaseClaims(issuer, USER));
    expect(await refusal(token)).toBe('algorithm');
    // With bytes where the signature goes, as if that made it signed.
    expect(await refusal(`${token}c2lnbmVk`)).toBe('algorithm');
  });

  it('refuses alg: none spelled in other cases', async () => {
    for (const alg of ['None', 'NONE', 'nOnE']) {
      const token = handMade({ alg, typ: 'JWT' }, supabaseClaims(issuer, USER));
      expect(await refusal(token)).toBe('algorithm');
    }
  });

  it('refuses HS256 signed with the RSA public key as the secret (key confusion)', async () => {
    const publicPem = await exportSPKI(
      (await crypto.subtle.importKey(
        'jwk',
        rs.publicJwk,
        { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
        true,
        ['verify'],
      )) as CryptoKey,
    );
    for (const secret of [publicPem, JSON.stringify(rs.publicJwk)]) {
      const header = { alg: 'HS256', typ: 'JWT', kid: rs.kid };
      const input = `${b64url(JSON.stringify(header))}.${
        b64url(JSON.stringify(supabaseClaims(issuer, USER)))
      }`;
      const signature = createHmac('sha256', secret).update(input).digest('base64url');
      expect(await refusal(`${input}.${signature}`)).toBe('signature');
      // Where no HS256 secret is configured, HS256 is not an algorithm we accept at all.
      expect(await refusal(`${input}.${signature}`, [])).toBe('algorithm');
    }
  });

  it('refuses an HS256 token when only asymmetric keys are configured', async () => {
    const token = await signToken(supabaseClaims(issuer, USER), { secret: SECRET });
    expect(await refusal(token, [])).toBe('algorithm');
  });

  it('refuses an algorithm other than HS256, ES256 and RS256', async () => {
    const claims = supabaseClaims(issuer, USER);
    for (const alg of ['HS512', 'PS256', 'ES384', 'EdDSA']) {
      expect(await refusal(handMade({ alg, kid: es.kid }, claims, 'c2ln'))).toBe('algorithm');
    }
  });

  it('refuses a token whose header names one algorithm and whose key is of another', async () => {
    // An RSA key's kid with alg ES256: no key in the set fits both.
    const token = handMade({ alg: 'ES256', kid: rs.kid }, supabaseClaims(issuer, USER), 'c2ln');
    expect(await refusal(token)).toBe('unknown_key');
  });

  it('refuses a token signed with a key the JWKS does not publish', async () => {
    const stranger = await signingKey('ES256', es.kid); // same kid, another key
    expect(await refusal(await signToken(supabaseClaims(issuer, USER), stranger))).toBe(
      'signature',
    );
    const unknown = await signingKey('ES256', 'never-published');
    expect(await refusal(await signToken(supabaseClaims(issuer, USER), unknown))).toBe(
      'unknown_key',
    );
  });

  it('refuses an HS256 token signed with a wrong secret', async () => {
    const token = await signToken(supabaseClaims(issuer, USER), { secret: 'guessed-secret' });
    expect(await refusal(token)).toBe('signature');
  });

  it('refuses a token whose payload was changed after signing', async () => {
    const [header, , signature] = (await signToken(supabaseClaims(issuer, USER), es)).split('.');
    const promoted = supabaseClaims(issuer, USER, { app_metadata: { role: 'admin' } });
    expect(await refusal(`${header}.${b64url(JSON.stringify(promoted))}.${signature}`)).toBe(
      'signature',
    );
  });

  it('refuses an expired token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await signToken(supabaseClaims(issuer, USER, { exp: now - 120 }), es);
    expect(await refusal(token)).toBe('expired');
  });

  it('refuses a token without exp', async () => {
    const claims = supabaseClaims(issuer, USER);
    delete claims.exp;
    expect(await refusal(await signToken(claims, es))).toBe('claims');
  });

  it('refuses a token not valid yet (nbf)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await signToken(supabaseClaims(issuer, USER, { nbf: now + 600 }), es);
    expect(await refusal(token)).toBe('not_yet_valid');
  });

  it('refuses a token for another audience, or for none', async () => {
    for (const aud of ['anon', 'service_role', 'https://other.example']) {
      expect(await refusal(await signToken(supabaseClaims(issuer, USER, { aud }), es))).toBe(
        'claims',
      );
    }
    const claims = supabaseClaims(issuer, USER);
    delete claims.aud;
    expect(await refusal(await signToken(claims, es))).toBe('claims');
  });

  it('refuses a token from another issuer', async () => {
    for (const iss of ['https://evil.example/auth/v1', `${issuer}/`, jwks.url]) {
      expect(await refusal(await signToken(supabaseClaims(issuer, USER, { iss }), es))).toBe(
        'claims',
      );
    }
  });

  it('refuses a token that names no user, or a role other than authenticated', async () => {
    expect(await refusal(await signToken(supabaseClaims(issuer, 'not-a-uuid'), es))).toBe(
      'claims',
    );
    for (const role of ['anon', 'service_role', 'postgres']) {
      const token = await signToken(supabaseClaims(issuer, USER, { role }), es);
      expect(await refusal(token)).toBe('claims');
    }
  });

  it('refuses what is not a JWT at all', async () => {
    for (const token of ['', 'abc', 'a.b.c', 'a.b', '....', `${b64url('{"alg":1}')}.e30.`]) {
      expect(await refusal(token)).toBe('malformed');
    }
  });

  it('refuses a token over 8 KiB unread', async () => {
    const padded = supabaseClaims(issuer, USER, { pad: 'x'.repeat(9000) });
    expect(await refusal(await signToken(padded, es))).toBe('malformed');
  });
});
