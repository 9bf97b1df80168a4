import type { MiddlewareHandler } from 'hono';
import { timingSafeIncludes } from '../crypto/index.ts';
import type { AppEnv } from '../http/env.ts';
import { ProblemError } from '../http/problem.ts';

/**
 * The credential a request presents: `Authorization: Bearer <key>` or `apikey: <key>`
 * (the header Supabase clients send).
 */
export function presentedKey(headers: Headers): string | null {
  const authorization = headers.get('authorization');
  if (authorization) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1]!;
  }
  const apikey = headers.get('apikey')?.trim();
  return apikey ? apikey : null;
}

/**
 * Admits only requests carrying a service key (any of `keys`, so keys rotate). With no key
 * configured every request is refused: fail closed. Answers 401 with `WWW-Authenticate`.
 *
 * @example
 * app.use('/worker', requireServiceKey(config.serviceKeys));
 */
export function requireServiceKey(keys: readonly string[]): MiddlewareHandler<AppEnv> {
  return async function requireServiceKey(c, next) {
    const key = presentedKey(c.req.raw.headers);
    if (key === null || keys.length === 0 || !timingSafeIncludes(keys, key)) {
      c.get('logFields').reason = key === null
        ? 'missing_credentials'
        : keys.length === 0
        ? 'no_service_key_configured'
        : 'bad_credentials';
      throw new ProblemError(401, {
        detail: 'a service key is required (Authorization: Bearer <key> or apikey: <key>)',
        headers: { 'WWW-Authenticate': 'Bearer realm="gatehouse"' },
      });
    }
    await next();
  };
}
