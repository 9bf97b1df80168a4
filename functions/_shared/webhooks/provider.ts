import type { Queryable } from '../db/types.ts';
import type { GatehouseApp } from '../app.ts';
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
  /** The app built on the platform (its USSD menu). */
  readonly app: GatehouseApp;
  /** The requests' pool: what synchronous answers may read (USSD's dynamic screens). */
  readonly db: Queryable;
}

/** A verified delivery: its events, and the rate-limit buckets they are taken from. */
export interface ReceivedDelivery {
  readonly events: IntakeEvent[];
  readonly limits: IngestLimits;
  /**
   * The text/plain answer once the events are stored, instead of the JSON status: USSD
   * answers the session's next screen, and its browsing steps carry no event. Without it a
   * delivery with no event is refused (400), so a 200 always means something was stored.
   */
  readonly reply?: string;
  /** False keeps the event keys off the request line (keys that hold what a user typed). */
  readonly logKeys?: boolean;
  /** Fields the request line adds (USSD: `ussd: CON|END`). */
  readonly logFields?: Readonly<Record<string, unknown>>;
}

/**
 * A caller refused by a provider's `gate` before anything else is read: answered `status`
 * with `detail`; `reason` is counted and logged, and so are `logFields` (never a secret).
 */
export class CallerRefusedError extends Error {
  override readonly name = 'CallerRefusedError';
  constructor(
    readonly status: 401 | 403 | 404,
    readonly detail: string,
    readonly reason: string,
    readonly logFields: Readonly<Record<string, unknown>> = {},
  ) {
    super(detail);
  }
}

/** Route parameters of a request (`:source` for Standard Webhooks). */
export type RouteParams = Readonly<Record<string, string>>;

/**
 * One provider of webhooks, as the intake route sees it. Every provider goes through the
 * same route (`functions/webhooks`): its `gate` if it has one, the per-IP tier, the
 * provider's switch (`flag`), the signature headers checked before the body is read
 * (`signedWith`), the body read within `bodyLimitBytes` as `mediaType`, then `verify` over
 * the raw bytes and only then `extract`, and the events are stored with their jobs in one
 * commit. A provider has a `verify`, a `gate`, or both: the route refuses to mount one with
 * neither, so nothing is parsed from a caller nobody checked.
 *
 * `V` is what verification hands to extraction (the Standard Webhooks `webhook-id`, the
 * event Stripe's library parsed as it verified), `void` when nothing.
 */
export interface WebhookProvider<V = unknown> {
  /** The routes under `/webhooks`, e.g. `/stripe` or `/standard/:source`. */
  readonly paths: readonly string[];
  /** The feature flag that switches its intake off (503 with `Retry-After`). */
  readonly flag: string;
  /** Largest body; the webhooks function's default (`GATEHOUSE_BODY_LIMIT_BYTES`) if unset. */
  readonly bodyLimitBytes?: number;
  /** The body's media type (415 for any other); `application/json` if unset. */
  readonly mediaType?: string;
  /**
   * How refusals name the provider to its sender (`USSD is switched off`); unset, the
   * intake (`intake for stripe is switched off`, `stripe is over its intake limit`).
   */
  readonly label?: string;
  /** The provider name a request is stored and logged under (`standard:<source>`). */
  name(params: RouteParams): string;
  /**
   * Checks the caller first, for a provider whose deliveries carry no signature (USSD: a
   * secret path token, the gateway's addresses); throws {@link CallerRefusedError}.
   */
  gate?(caller: { readonly params: RouteParams; readonly clientIp: string | undefined }): void;
  /**
   * The secrets that verify its deliveries and the headers that carry the signature: no
   * secret (fail closed) or a missing header is refused with 401 before the body is read.
   * A provider with a `gate` instead has none.
   */
  signedWith?(params: RouteParams): {
    readonly secrets: readonly string[];
    readonly headers: readonly string[];
  };
  /**
   * Checks the raw body against its signature before anything parses it, in constant time;
   * throws `SignatureError` (401, its reason logged). What it returns goes to `extract`.
   */
  verify?(raw: Uint8Array, headers: Headers, params: RouteParams): V | Promise<V>;
  /**
   * Turns the verified body into its events and the rate-limit buckets they are taken
   * from; throws `MalformedPayloadError` (400 naming its `issues`) for a body that is not
   * the provider's.
   */
  extract(
    raw: Uint8Array,
    verified: V,
    params: RouteParams,
  ): ReceivedDelivery | Promise<ReceivedDelivery>;
  /** Answers the provider's subscription handshake (`GET` on the same path), if it has one. */
  subscribe?(query: URLSearchParams): string | null;
}

/** A URL a provider must be given, relative to the webhooks function's base. */
export interface WebhookEndpoint {
  /** `whatsapp`, `stripe`, `paypal`, `standard:<source>`, `ussd`. */
  readonly provider: string;
  /** The path under `/webhooks`, secrets shown as `<VARIABLE>` placeholders. */
  readonly path: string;
  /** What the provider still needs besides the URL, when anything. */
  readonly note?: string;
  /** The variable that is not set, when the route refuses every delivery. */
  readonly missing?: string;
  /** The feature flag that switches this intake off (the route's `flag`). */
  readonly flag?: string;
}

/**
 * A provider's module (`functions/_shared/webhooks/<provider>/index.ts`): the job kinds its
 * events become, the URLs to register with the provider, and how to build its route from
 * the webhooks function's context.
 */
export interface ProviderModule<V = unknown> {
  readonly jobKinds: readonly string[];
  /**
   * The URLs to register with the provider under this config (the start-up banner lists
   * them; a route that refuses every delivery names the variable it lacks, and is warned
   * about at start). Never a secret's value.
   */
  endpoints(config: Config): WebhookEndpoint[];
  /** Builds its route; `V` ties what its `verify` returns to what its `extract` receives. */
  create(context: ProviderContext): WebhookProvider<V>;
}

/** A provider's one endpoint, naming `variable` as missing when it has no secret. */
export function endpoint(
  provider: string,
  path: string,
  secrets: readonly unknown[],
  variable: string,
): WebhookEndpoint {
  return {
    provider,
    path,
    flag: `intake.${provider}`,
    ...(secrets.length === 0 ? { missing: variable } : {}),
  };
}

/** The limits of a provider with one bucket for all its deliveries. */
export function providerBucket(key: string, limits: IntakeLimitSettings): IngestLimits {
  return { global: { key, ...limits.perProvider }, sender: null };
}

/** Whole seconds since the epoch of `now()`'s milliseconds, as signature timestamps count. */
export function seconds(now: () => number): number {
  return Math.floor(now() / 1000);
}
