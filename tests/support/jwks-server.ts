// Supabase Auth's signing keys as a project publishes them (GET /auth/v1/.well-known/jwks.json),
// served from loopback, and tokens signed as Supabase Auth signs them.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';

export const JWKS_PATH = '/auth/v1/.well-known/jwks.json';

export interface SigningKey {
  readonly kid: string;
  readonly alg: 'ES256' | 'RS256';
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export async function signingKey(alg: 'ES256' | 'RS256', kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...await exportJWK(publicKey), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

export interface JwksServer {
  /** The project URL: `http://127.0.0.1:<port>` (issuer `<url>/auth/v1`). */
  readonly url: string;
  readonly jwksUrl: string;
  /** The keys published now; change it to rotate. */
  keys: SigningKey[];
  /** Answer every request with this status instead (an outage), or null. */
  failWith: number | null;
  /** Answer 200 with this body instead of the keys (a misconfigured URL), or null. */
  rawBody: string | null;
  /** Requests for the key set so far. */
  requests: number;
  close(): Promise<void>;
}

export async function startJwksServer(keys: SigningKey[]): Promise<JwksServer> {
  const server = createServer((request, response) => {
    if (request.url !== JWKS_PATH || request.method !== 'GET') {
      response.writeHead(404).end();
      return;
    }
    state.requests += 1;
    if (state.failWith !== null) {
      response.writeHead(state.failWith, { 'content-type': 'text/plain' }).end('unavailable');
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    if (state.rawBody !== null) return void response.end(state.rawBody);
    response.end(JSON.stringify({ keys: state.keys.map((key) => key.publicJwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const state: JwksServer = {
    url,
    jwksUrl: `${url}${JWKS_PATH}`,
    keys,
    failWith: null,
    rawBody: null,
    requests: 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return state;
}

/** The claims Supabase Auth puts in a signed-in user's access token. */
export function supabaseClaims(issuer: string, sub: string, extra: JWTPayload = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: issuer,
    sub,
    aud: 'authenticated',
    exp: now + 3600,
    iat: now,
    email: 'ada@example.com',
    phone: '',
    app_metadata: { provider: 'email', providers: ['email'] },
    user_metadata: {},
    role: 'authenticated',
    aal: 'aal1',
    amr: [{ method: 'password', timestamp: now }],
    session_id: crypto.randomUUID(),
    is_anonymous: false,
    ...extra,
  };
}

/** A token signed with `key` (an asymmetric key or an HS256 secret). */
export async function signToken(
  claims: JWTPayload,
  key: SigningKey | { secret: string },
  header: Record<string, unknown> = {},
): Promise<string> {
  const jwt = new SignJWT(claims);
  if ('secret' in key) {
    return await jwt.setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...header })
      .sign(new TextEncoder().encode(key.secret));
  }
  return await jwt.setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .sign(key.privateKey);
}

/** base64url of a string or bytes, for hand-built tokens. */
export function b64url(value: string | Uint8Array): string {
  return Buffer.from(value).toString('base64url');
}
