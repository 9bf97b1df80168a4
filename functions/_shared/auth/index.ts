export { presentedKey, requireServiceKey } from './service-key.ts';
export {
  createJwksCache,
  JWKS_COOLDOWN_MS,
  JWKS_MAX_AGE_MS,
  type JwksCache,
  type JwksOptions,
} from './jwks.ts';
export {
  type AuthUser,
  createJwtVerifier,
  InvalidTokenError,
  type InvalidTokenReason,
  type JwtVerifier,
  type JwtVerifierOptions,
  KeysUnavailableError,
  MAX_TOKEN_BYTES,
} from './jwt.ts';
export { can, type Permission, PERMISSIONS, type Role, roleOf, ROLES } from './roles.ts';
export {
  asUser,
  bearerToken,
  callAsUser,
  checkPermission,
  readAsUser,
  requireRole,
  requireUser,
  type UserEnv,
  verifiedUser,
} from './user.ts';
export {
  type Operator,
  type OperatorEnv,
  requireOperator,
  type RequireOperatorOptions,
  requirePermission,
  SERVICE_KEY_ACTOR,
} from './operator.ts';
export { configuredVerifier, jwtSettings } from './settings.ts';
