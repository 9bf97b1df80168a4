import { outboundEnvShape } from './outbound.ts';
import { ussdEnvShape } from './ussd.ts';
import { z } from 'zod';
import { queueEnvShape } from './queue.ts';
import { databaseEnvShape } from './database.ts';
import { wholeNumber } from './fields.ts';

/** The environment as entry points read it (Deno.env.toObject(), process.env, .env). */
export type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_PORT = 54321;
export const DEFAULT_EMBEDDED_DB_PORT = 54322;
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;
/** How long an `Idempotency-Key`'s first answer is kept for retries: 24 hours. */
export const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 86_400;
/** Requests one process serves at once; more are answered 503 before their body is read. */
export const DEFAULT_MAX_IN_FLIGHT = 128;
/**
 * The latency admitted requests keep: the in-flight limit shrinks below the maximum while
 * more than 5 % of them take longer (see http/admission.ts). Clients see about two to four
 * times this at their p99 (time before a request reaches the door, event-loop and CPU
 * waits), so 25 ms keeps an overloaded server's accepted deliveries within about 100 ms;
 * 50 ms accepted up to 40 % more under 4x overload at a p99 of 110-300 ms
 * (docs/benchmarks.md). Either is far under providers' own timeouts (Meta, Stripe: 10-30 s).
 */
export const DEFAULT_LATENCY_TARGET_MS = 25;
/**
 * The same on the embedded database (no `DATABASE_URL`), where each commit is slower and
 * the server shares its CPU with PGlite's thread: at 25 ms the door shed a third of a load
 * the process carried (1× of a closed loop's rate) and three quarters at 2×; at 35 ms it
 * let 1.2-1.5 times as many through at 1× and 1.5-2.7 times at 2×, with the 4× step's p99
 * no worse (docs/benchmarks.md, 2026-12-08).
 */
export const DEFAULT_EMBEDDED_LATENCY_TARGET_MS = 35;
/**
 * Request body bytes one process holds at once (declared lengths; an undeclared length counts
 * as the body limit); more → 503 unread. 16 MiB is thousands of real deliveries of a few
 * kilobytes, and five bodies at the 3 MiB WhatsApp limit: a flood of large forged bodies
 * (which must be read to check their signature) keeps the server near 250 MB.
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
export const DEFAULT_WHATSAPP_GRAPH_URL = 'https://graph.facebook.com/v21.0';
export const DEFAULT_PAYPAL_CERT_HOSTS = ['api.paypal.com', 'api.sandbox.paypal.com'];
/** Minimum length of a production service key: long enough that guessing is hopeless. */
export const MIN_PRODUCTION_KEY_LENGTH = 32;

/** `WEBHOOK_SECRET_<SOURCE>` → a Standard Webhooks source named `<source>` (lower case). */
export const STANDARD_WEBHOOK_SECRET_PREFIX = 'WEBHOOK_SECRET_';

// An empty value (`FOO=` in .env) means "not set"; it never becomes an empty secret.
const optionalText = z.string().trim().transform((value) => value === '' ? undefined : value)
  .optional();

/** A comma-separated list; every listed secret verifies, so secrets rotate without downtime. */
const secretList = optionalText.transform((value) =>
  value === undefined ? [] : value.split(',').map((item) => item.trim()).filter((item) => item)
);

const boolean = optionalText.pipe(
  z.enum(['true', 'false', '1', '0'], { message: 'must be true or false' })
    .transform((value) => value === 'true' || value === '1')
    .optional(),
);

const httpUrl = optionalText.pipe(
  z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
);

const postgresUrl = optionalText.pipe(
  z.url({
    protocol: /^postgres(ql)?$/,
    message: 'must be a postgres:// or postgresql:// connection string',
  }).optional(),
);

/** The variables Gatehouse reads. Keys are the public contract (ARCHITECTURE §4). */
export const envSchema = z.object({
  GATEHOUSE_ENV: optionalText.pipe(
    z.enum(['development', 'production'], { message: 'must be development or production' })
      .default('development'),
  ),
  PORT: wholeNumber(1, 65_535),
  GATEHOUSE_HOST: optionalText,
  DATABASE_URL: postgresUrl,
  // Supabase injects SUPABASE_DB_URL into edge functions; used when DATABASE_URL is unset.
  SUPABASE_DB_URL: postgresUrl,
  GATEHOUSE_DB_PREPARE: boolean,
  GATEHOUSE_DATA_DIR: optionalText,
  GATEHOUSE_EMBEDDED_DB_PORT: wholeNumber(0, 65_535),
  GATEHOUSE_LOG_LEVEL: optionalText.pipe(
    z.enum(['debug', 'info', 'warn', 'error'], { message: 'must be debug, info, warn or error' })
      .default('info'),
  ),
  GATEHOUSE_CORS_ORIGINS: optionalText,
  GATEHOUSE_BODY_LIMIT_BYTES: wholeNumber(1_024, 50 * 1024 * 1024),
  GATEHOUSE_MAX_IN_FLIGHT: wholeNumber(1, 100_000),
  GATEHOUSE_LATENCY_TARGET_MS: wholeNumber(0, 60_000),
  GATEHOUSE_MAX_BUFFERED_BYTES: wholeNumber(4 * 1024 * 1024, 16 * 1024 * 1024 * 1024),
  GATEHOUSE_SERVICE_KEY: secretList,
  METRICS_TOKEN: secretList,
  WHATSAPP_VERIFY_TOKEN: secretList,
  WHATSAPP_APP_SECRET: secretList,
  WHATSAPP_ACCESS_TOKEN: optionalText,
  WHATSAPP_PHONE_NUMBER_ID: optionalText,
  WHATSAPP_GRAPH_URL: httpUrl,
  STRIPE_WEBHOOK_SECRET: secretList,
  PAYPAL_WEBHOOK_ID: secretList,
  PAYPAL_CERT_HOSTS: secretList,
  ...ussdEnvShape,
  SUPABASE_URL: httpUrl,
  SUPABASE_JWT_SECRET: secretList,
  SUPABASE_JWKS_URL: httpUrl,
  SUPABASE_ANON_KEY: optionalText,
  GATEHOUSE_IDEMPOTENCY_TTL_SECONDS: wholeNumber(60, 30 * 86_400),
  GATEHOUSE_METRICS: boolean,
  GATEHOUSE_METRICS_FLUSH_MS: wholeNumber(100, 3_600_000),
  GATEHOUSE_ALERTS: boolean,
  GATEHOUSE_ALERT_WEBHOOK_URL_P0: httpUrl,
  GATEHOUSE_ALERT_WEBHOOK_URL_P1: httpUrl,
  GATEHOUSE_ALERT_WEBHOOK_URL_P2: httpUrl,
  GATEHOUSE_ALERT_WEBHOOK_URL_P3: httpUrl,
  UPSTASH_REDIS_REST_URL: httpUrl,
  UPSTASH_REDIS_REST_TOKEN: optionalText,
  ...queueEnvShape,
  ...databaseEnvShape,
  ...outboundEnvShape,
});

export type ParsedEnv = z.output<typeof envSchema>;
