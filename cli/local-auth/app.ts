import { argon2id, argon2Verify } from 'hash-wasm';
import { Hono } from 'hono';
import { jwtVerify } from 'jose';
import { z } from 'zod';
import { sha256Hex, timingSafeEqual } from '../../functions/_shared/crypto/index.ts';
import { randomToken } from '../dev-secrets.ts';
import type { Db, Row } from '../../functions/_shared/db/types.ts';
import { clientAddress } from '../../functions/_shared/http/client-address.ts';
import { rateLimit } from '../../functions/_shared/ratelimit/tiers.ts';
import { ProblemError } from '../../functions/_shared/http/problem.ts';
import { bearerToken } from '../../functions/_shared/auth/user.ts';
import { BodyTooLargeError, requestBodyLimit } from '../../functions/_shared/http/body-limit.ts';
import type { LocalAuthKeys } from './keys.ts';

/** Where Supabase serves Auth, beside `/functions/v1`. */
export const AUTH_PREFIX = '/auth/v1';
/** The largest request body the sign-in endpoints read. */
const MAX_BODY_BYTES = 16 * 1024;
/** How long an access token lives (Supabase's default). */
export const ACCESS_TOKEN_SECONDS = 3600;
/** Supabase Auth's default minimum password length. */
const MIN_PASSWORD_LENGTH = 6;
/** argon2id at OWASP's first recommended setting: 19 MiB, 2 passes, 1 lane. */
const ARGON2 = { iterations: 2, parallelism: 1, memorySize: 19_456, hashLength: 32 } as const;

export interface LocalAuthOptions {
  /** The server's own database (the auth schema is no API role's). */
  readonly db: Db;
  readonly keys: LocalAuthKeys;
  /** `<base>/auth/v1`, the `iss` of every token. */
  readonly issuer: string;
}

/** An error as Supabase Auth answers it: `{code, error_code, msg}`. */
class AuthError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 422,
    readonly errorCode: string,
    msg: string,
  ) {
    super(msg);
  }
}

const credentials = z.object({
  email: z.string().trim().toLowerCase().max(255).regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/),
  password: z.string().max(1024),
  data: z.record(z.string(), z.unknown()).optional(),
});

/**
 * The Supabase Auth endpoints that `@supabase/supabase-js` uses, served by the local server
 * in development only: `POST /auth/v1/signup`, `POST /auth/v1/token?grant_type=password`
 * and `?grant_type=refresh_token`, `GET /auth/v1/user`, `POST /auth/v1/logout` and
 * `GET /auth/v1/.well-known/jwks.json`. Email sign-ups are confirmed at once (as in a local
 * Supabase); access tokens are ES256 with Supabase Auth's claim set; refresh tokens rotate
 * on every use and are stored hashed; passwords are hashed with argon2id. Every endpoint
 * but the JWKS wants the anon key as `apikey`, as a Supabase project does.
 *
 * @example
 * const auth = createLocalAuthApp({ db, keys, issuer: 'http://127.0.0.1:54321/auth/v1' });
 * // supabase-js: createClient('http://127.0.0.1:54321', keys.anonKey)
 */
export function createLocalAuthApp(options: LocalAuthOptions): Hono {
  const { db, keys, issuer } = options;
  const app = new Hono().basePath(AUTH_PREFIX);
  // A hash of nothing anyone types: an unknown email costs the same time as a wrong password.
  // Made on first need: argon2's 19 MiB of WebAssembly memory stays with the process once
  // taken, and a server nobody signs in to should not carry it.
  let dummyHash: Promise<string> | undefined;
  const dummy = () =>
    dummyHash ??= argon2id({
      ...ARGON2,
      password: randomToken(24),
      salt: crypto.getRandomValues(new Uint8Array(16)),
      outputType: 'encoded',
    });

  app.onError((error, c) => {
    if (error instanceof AuthError) {
      return c.json(
        { code: error.status, error_code: error.errorCode, msg: error.message },
        error.status,
      );
    }
    if (error instanceof ProblemError && error.status === 429) {
      return c.json(
        { code: 429, error_code: 'over_request_rate_limit', msg: error.message },
        429,
        error.headers,
      );
    }
    if (error instanceof BodyTooLargeError) {
      return c.json({ code: 413, error_code: 'request_too_large', msg: error.message }, 413);
    }
    if (error instanceof SyntaxError) {
      return c.json({ code: 400, error_code: 'bad_json', msg: 'the body is not JSON' }, 400);
    }
    throw error;
  });

  app.get('/.well-known/jwks.json', (c) => c.json({ keys: [keys.publicJwk] }));

  // Credentials and refresh tokens are a few hundred bytes; nothing bigger is read.
  app.use(requestBodyLimit({
    maxBytes: MAX_BODY_BYTES,
    onTooLarge: () => {
      throw new BodyTooLargeError(MAX_BODY_BYTES);
    },
  }));

  app.use('*', async (c, next) => {
    const apikey = c.req.header('apikey');
    if (apikey === undefined) {
      return c.json({ message: 'No API key found in request' }, 401);
    }
    if (!timingSafeEqual(apikey, keys.anonKey)) return c.json({ message: 'Invalid API key' }, 401);
    await next();
  });

  /** A new session for `user`: an access token and a refresh token. */
  async function session(user: Row, sessionId?: string) {
    const sid = sessionId ??
      String(
        (await db.query(
          'insert into auth.sessions (user_id) values ($1) returning id',
          [user.id],
        ))[0]!.id,
      );
    const refreshToken = randomToken(24);
    await db.query(
      'insert into auth.refresh_tokens (token_hash, user_id, session_id) values ($1, $2, $3)',
      [sha256Hex(refreshToken), user.id, sid],
    );
    const now = Math.floor(Date.now() / 1000);
    const accessToken = await keys.sign({
      iss: issuer,
      sub: String(user.id),
      aud: 'authenticated',
      exp: now + ACCESS_TOKEN_SECONDS,
      iat: now,
      email: user.email,
      phone: '',
      app_metadata: user.raw_app_meta_data,
      user_metadata: user.raw_user_meta_data,
      role: 'authenticated',
      aal: 'aal1',
      amr: [{ method: 'password', timestamp: now }],
      session_id: sid,
      is_anonymous: false,
    });
    return {
      access_token: accessToken,
      token_type: 'bearer',
      expires_in: ACCESS_TOKEN_SECONDS,
      expires_at: now + ACCESS_TOKEN_SECONDS,
      refresh_token: refreshToken,
      user: userJson(user),
    };
  }

  // Guessing passwords (or filling the table) must be slow: the strict tier per address.
  const strict = rateLimit({
    db,
    subject: (c) => `auth:${clientAddress(c.req.raw.headers) ?? 'unknown'}`,
    tier: () => 'strict',
  });
  app.post('/signup', strict);
  app.post('/token', async (c, next) => {
    if (c.req.query('grant_type') === 'password') return await strict(c, next);
    await next();
  });

  app.post('/signup', async (c) => {
    const input = credentials.safeParse(await c.req.json());
    if (!input.success) {
      throw new AuthError(400, 'validation_failed', 'a valid email and password are required');
    }
    if (input.data.password.length < MIN_PASSWORD_LENGTH) {
      throw new AuthError(
        422,
        'weak_password',
        `Password should be at least ${MIN_PASSWORD_LENGTH} characters.`,
      );
    }
    const hash = await argon2id({
      ...ARGON2,
      password: input.data.password,
      salt: crypto.getRandomValues(new Uint8Array(16)),
      outputType: 'encoded',
    });
    const [user] = await db.query(
      `insert into auth.users (email, encrypted_password, email_confirmed_at, last_sign_in_at,
                               raw_user_meta_data)
       values ($1, $2, now(), now(), $3::jsonb)
       on conflict do nothing
       returning *`,
      [input.data.email, hash, input.data.data ?? {}],
    );
    if (!user) throw new AuthError(422, 'user_already_exists', 'User already registered');
    return c.json(await session(user));
  });

  app.post('/token', async (c) => {
    const grant = c.req.query('grant_type');
    const body = await c.req.json() as Record<string, unknown>;
    if (grant === 'password') {
      const input = credentials.safeParse(body);
      const [user] = input.success
        ? await db.query('select * from auth.users where lower(email) = $1', [input.data.email])
        : [];
      // The hash is checked even for an unknown email, so timing does not tell which.
      const ok = await argon2Verify({
        password: input.success ? input.data.password : '',
        hash: typeof user?.encrypted_password === 'string'
          ? user.encrypted_password
          : await dummy(),
      });
      if (!user || !ok) {
        throw new AuthError(400, 'invalid_credentials', 'Invalid login credentials');
      }
      await db.query('update auth.users set last_sign_in_at = now() where id = $1', [user.id]);
      return c.json(await session(user));
    }
    if (grant === 'refresh_token') {
      const token = typeof body.refresh_token === 'string' ? body.refresh_token : '';
      const [used] = await db.query(
        `update auth.refresh_tokens set revoked = true
          where token_hash = $1 and not revoked returning user_id, session_id`,
        [sha256Hex(token)],
      );
      if (!used) {
        throw new AuthError(
          400,
          'refresh_token_not_found',
          'Invalid Refresh Token: Refresh Token Not Found',
        );
      }
      const [user] = await db.query('select * from auth.users where id = $1', [used.user_id]);
      return c.json(await session(user!, String(used.session_id)));
    }
    throw new AuthError(
      400,
      'unsupported_grant_type',
      'grant_type must be password or refresh_token',
    );
  });

  /** The signed-in caller's claims, from the Bearer access token. */
  async function caller(headers: Headers) {
    const token = bearerToken(headers);
    if (!token) {
      throw new AuthError(401, 'no_authorization', 'This endpoint requires a Bearer token');
    }
    try {
      const { payload } = await jwtVerify(token, keys.publicKey, {
        issuer,
        audience: 'authenticated',
        algorithms: ['ES256'],
      });
      return payload;
    } catch {
      throw new AuthError(403, 'bad_jwt', 'invalid JWT');
    }
  }

  app.get('/user', async (c) => {
    const claims = await caller(c.req.raw.headers);
    const [user] = await db.query('select * from auth.users where id = $1', [claims.sub]);
    if (!user) {
      throw new AuthError(404, 'user_not_found', 'User from sub claim in JWT does not exist');
    }
    return c.json(userJson(user));
  });

  app.post('/logout', async (c) => {
    const claims = await caller(c.req.raw.headers);
    // global: every session of the user; local: this one; others: all but this one.
    const scope = c.req.query('scope') ?? 'global';
    if (!['global', 'local', 'others'].includes(scope)) {
      throw new AuthError(400, 'validation_failed', 'scope must be global, local or others');
    }
    await db.query(
      `update auth.refresh_tokens set revoked = true
        where user_id = $1
          and ($2 = 'global' or ($2 = 'local') = (session_id::text = $3))`,
      [claims.sub, scope, String(claims.session_id ?? '')],
    );
    return c.body(null, 204);
  });

  return app;
}

function userJson(user: Row) {
  return {
    id: user.id,
    aud: user.aud,
    role: user.role,
    email: user.email,
    email_confirmed_at: user.email_confirmed_at,
    phone: '',
    confirmed_at: user.email_confirmed_at,
    last_sign_in_at: user.last_sign_in_at,
    app_metadata: user.raw_app_meta_data,
    user_metadata: user.raw_user_meta_data,
    identities: [],
    created_at: user.created_at,
    updated_at: user.updated_at,
    is_anonymous: user.is_anonymous,
  };
}
