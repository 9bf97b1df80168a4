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
export { asUser, bearerToken, readAsUser, requireRole, requireUser, type UserEnv } from './user.ts';
export { jwtSettings } from './settings.ts';
