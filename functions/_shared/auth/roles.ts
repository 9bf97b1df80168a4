import type { JWTPayload } from 'jose';

/**
 * Who a signed-in caller is to Gatehouse, from `app_metadata.role` in their token. Only
 * `app_metadata` counts: it is written with the service key (the dashboard, an admin API,
 * SQL), while `user_metadata` is the user's own to edit. Anything else is a plain `user`.
 */
export const ROLES = ['admin', 'operator', 'support', 'user'] as const;
export type Role = (typeof ROLES)[number];

/**
 * The one permission map: what each role may do. Routes ask for a permission, never for a
 * role by name, so who may do what is read and changed here alone.
 */
export const PERMISSIONS = {
  /** The user API: one's own profile, vehicles, rides, QR codes. */
  'api:use': ['admin', 'operator', 'support', 'user'],
  /** The operator console's read-only views: health, metrics, queues, SLOs. */
  'ops:read': ['admin', 'operator', 'support'],
  'flags:write': ['admin', 'operator'],
  'jobs:replay': ['admin', 'operator'],
  /** Outbound webhook endpoints: create, change, pause, resume, rotate secrets, test. */
  'webhooks:write': ['admin', 'operator'],
  'audit:read': ['admin', 'operator'],
  'users:read': ['admin', 'support'],
  'users:manage': ['admin'],
} as const satisfies Record<string, readonly Role[]>;
export type Permission = keyof typeof PERMISSIONS;

/** The role a verified token's claims grant. */
export function roleOf(claims: JWTPayload): Role {
  const appMetadata = claims.app_metadata;
  if (appMetadata === null || typeof appMetadata !== 'object' || Array.isArray(appMetadata)) {
    return 'user';
  }
  const role = (appMetadata as Record<string, unknown>).role;
  return typeof role === 'string' && (ROLES as readonly string[]).includes(role)
    ? role as Role
    : 'user';
}

/** Whether `role` holds `permission`. */
export function can(role: Role, permission: Permission): boolean {
  return (PERMISSIONS[permission] as readonly Role[]).includes(role);
}
