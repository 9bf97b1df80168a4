import type { GatehouseMetrics } from '../metrics/catalog.ts';
import type { RateLimitApi, RateTier } from './tiers.ts';

/**
 * The `scope` of `gatehouse_rate_limit_decisions_total`: which limiter decided, never whose
 * budget it was (an address, a user, a sender stay out of the labels).
 */
export const RATE_LIMIT_SCOPES = {
  /** The optional Upstash tier, per client address, in front of intake (`EdgeLimiter`). */
  edge: 'edge',
  /** Intake's provider-wide bucket (per WhatsApp business number): over it, 429. */
  intakeProvider: 'intake_provider',
  /** Intake's per-sender bucket: over it, the event is stored `rate_limited`. */
  intakeSender: 'intake_sender',
} as const;

export type RateLimitScope =
  | (typeof RATE_LIMIT_SCOPES)[keyof typeof RATE_LIMIT_SCOPES]
  | `${RateLimitApi}_${RateTier}`;

/** The recorder decisions are counted in (the process's `record` satisfies it). */
export type RateLimitMetrics = Pick<GatehouseMetrics, 'rateLimit'>;

/**
 * Counts `times` decisions of `scope`, allowed or limited.
 *
 * @example
 * countDecision(runtime.metrics.record, 'edge', verdict.allowed);
 */
export function countDecision(
  metrics: RateLimitMetrics,
  scope: RateLimitScope,
  allowed: boolean,
  times = 1,
): void {
  if (times > 0) metrics.rateLimit.inc({ scope, decision: allowed ? 'allowed' : 'limited' }, times);
}
