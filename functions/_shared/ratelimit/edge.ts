/**
 * The optional per-address tier in front of the intake, checked before any database work
 * (`createUpstashLimiter` is one): whether one more request from `key` is allowed now, and
 * if not, how long until one would be.
 */
export interface EdgeLimiter {
  check(key: string): Promise<{ allowed: boolean; retryAfterMs: number }>;
}
