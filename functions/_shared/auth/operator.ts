import type { MiddlewareHandler } from 'hono';
import { timingSafeIncludes } from '../crypto/index.ts';
import type { AppEnv } from '../http/env.ts';
import { ProblemError } from '../http/problem.ts';
import type { AuthUser, JwtVerifier } from './jwt.ts';
import type { Permission } from './roles.ts';
import { presentedKey } from './service-key.ts';
import { bearerToken, checkPermission, verifiedUser } from './user.ts';

/** What the audit log names the service key as. */
export const SERVICE_KEY_ACTOR = 'service key';

/**
 * Who is calling an operator route: the service key (the platform's own credential, which
 * holds every permission), or a signed-in user, whose role decides (`PERMISSIONS`).
 */
export type Operator =
  | { readonly kind: 'service_key'; readonly actor: typeof SERVICE_KEY_ACTOR }
  | { readonly kind: 'user'; readonly actor: string; readonly user: AuthUser };

/** A function app's environment once `requireOperator` ran: `c.get('operator')`. */
export type OperatorEnv = {
  Variables: AppEnv['Variables'] & { operator: Operator };
};

export interface RequireOperatorOptions {
  /** `GATEHOUSE_SERVICE_KEY` (a list, so it rotates); empty: no service key is accepted. */
  readonly serviceKeys: readonly string[];
  /** How user tokens are checked; null when sign-in is not configured (users get 503). */
  readonly verifier: JwtVerifier | null;
}

const SERVICE_KEY: Operator = { kind: 'service_key', actor: SERVICE_KEY_ACTOR };

/**
 * Admits the service key (`Authorization: Bearer <key>` or `apikey: <key>`, compared in
 * constant time) or a valid Supabase user token, and puts the caller in
 * `c.get('operator')`. Nothing else gets in: no credentials, a wrong key or a token that
 * proves nothing (the anon key included, whose role is not `authenticated`) answer 401 as
 * `requireUser` does. What the caller may do is checked per route by `requirePermission`.
 *
 * @example
 * app.use('*', requireOperator({ serviceKeys: config.serviceKeys, verifier }));
 * app.get('/jobs', requirePermission('ops:read'), handler);
 */
export function requireOperator(options: RequireOperatorOptions): MiddlewareHandler<OperatorEnv> {
  const { serviceKeys, verifier } = options;
  return async function requireOperator(c, next) {
    const key = presentedKey(c.req.raw.headers);
    if (key !== null && serviceKeys.length > 0 && timingSafeIncludes(serviceKeys, key)) {
      c.get('logFields').auth = 'service_key';
      c.set('operator', SERVICE_KEY);
      return await next();
    }
    if (bearerToken(c.req.raw.headers) === null) {
      c.get('logFields').reason = key === null ? 'missing_credentials' : 'bad_credentials';
      throw new ProblemError(401, {
        detail: 'send the service key or an access token: Authorization: Bearer <key or token>',
        headers: { 'WWW-Authenticate': 'Bearer realm="gatehouse"' },
      });
    }
    if (verifier === null) {
      throw new ProblemError(503, {
        detail: 'user sign-in is not configured on this server; use the service key',
        expose: true,
      });
    }
    const user = await verifiedUser(verifier, c.req.raw.headers, c.get('logFields'));
    c.set('operator', { kind: 'user', actor: user.id, user });
    await next();
  };
}

/**
 * Lets through the service key and users whose role holds `permission`; a user without it
 * gets 403 with `error="insufficient_scope"`. Runs after `requireOperator`.
 *
 * @example
 * createRoute({ method: 'post', path: '/dead-jobs/{id}/replay', middleware: [requirePermission('jobs:replay')], ... });
 */
export function requirePermission(permission: Permission): MiddlewareHandler<OperatorEnv> {
  return async function requirePermission(c, next) {
    const operator = c.get('operator');
    if (operator.kind === 'user') {
      checkPermission(c.get('logFields'), operator.user.role, permission);
    }
    await next();
  };
}
