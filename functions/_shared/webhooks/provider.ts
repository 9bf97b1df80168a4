import type { Config } from '../config/index.ts';
import type { IntakeEvent } from './events/types.ts';
import type { IngestLimits } from './ingest.ts';
import type { IntakeLimitSettings } from './limits.ts';
import type { FetchLike } from './paypal/cert-fetch.ts';

/** What a provider's module is built with, once per webhooks function. */
export interface ProviderContext {
  readonly config: Config;
  /** Milliseconds since the epoch (the function's clock), for signature timestamps. */
  readonly now: () => number;
  readonly fetch: FetchLike;
  readonly limits: IntakeLimitSettings;
}

/** A verified delivery: its events, and the rate-limit buckets they are taken from. */
export interface ReceivedDelivery {
  readonly events: IntakeEvent[];
  readonly limits: IngestLimits;
}

/** Route parameters of a request (`:source` for Standard Webhooks). */
export type RouteParams = Readonly<Record<string, string>>;

/**
 * One provider of webhooks, as the intake route sees it. Every provider goes through the
 * same route (`functions/webhooks`): the per-IP tier, the provider's switch (`flag`), the
 * signature headers checked before the body is read (`signedWith`), the body read within
 * `bodyLimitBytes` as JSON, then `receive` verifies and extracts, and the events are stored
 * with their jobs in one commit.
 */
export interface WebhookProvider {
  /** The route under `/webhooks`, e.g. `/stripe` or `/standard/:source`. */
  readonly path: string;
  /** The feature flag that switches its intake off (503 with `Retry-After`). */
  readonly flag: string;
  /** Largest body; the webhooks function's default (`GATEHOUSE_BODY_LIMIT_BYTES`) if unset. */
  readonly bodyLimitBytes?: number;
  /** The provider name a request is stored and logged under (`standard:<source>`). */
  name(params: RouteParams): string;
  /**
   * The secrets that verify its deliveries and the headers that carry the signature: no
   * secret (fail closed) or a missing header is refused with 401 before the body is read.
   */
  signedWith(params: RouteParams): {
    readonly secrets: readonly string[];
    readonly headers: readonly string[];
  };
  /**
   * Verifies the raw body against its signature, then extracts the events (throwing
   * `SignatureError` → 401, `MalformedPayloadError` → 400).
   */
  receive(raw: Uint8Array, headers: Headers, params: RouteParams): Promise<ReceivedDelivery>;
  /** Answers the provider's subscription handshake (`GET` on the same path), if it has one. */
  subscribe?(query: URLSearchParams): string | null;
}

/**
 * A provider's module (`functions/_shared/webhooks/<provider>/index.ts`): the job kinds its
 * events become, and how to build its route from the webhooks function's context.
 */
export interface ProviderModule {
  readonly jobKinds: readonly string[];
  create(context: ProviderContext): WebhookProvider;
}

/** The limits of a provider with one bucket for all its deliveries. */
export function providerBucket(key: string, limits: IntakeLimitSettings): IngestLimits {
  return { global: { key, ...limits.perProvider }, sender: null };
}

/** Whole seconds since the epoch of `now()`'s milliseconds, as signature timestamps count. */
export function seconds(now: () => number): number {
  return Math.floor(now() / 1000);
}
