import { type UssdConfig, ussdConfig } from './ussd.ts';
import type { z } from 'zod';
import {
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_EMBEDDED_DB_PORT,
  DEFAULT_EMBEDDED_LATENCY_TARGET_MS,
  DEFAULT_IDEMPOTENCY_TTL_SECONDS,
  DEFAULT_LATENCY_TARGET_MS,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_PAYPAL_CERT_HOSTS,
  DEFAULT_PORT,
  DEFAULT_WHATSAPP_GRAPH_URL,
  type Env,
  envSchema,
  MIN_PRODUCTION_KEY_LENGTH,
  type ParsedEnv,
  STANDARD_WEBHOOK_SECRET_PREFIX,
} from './schema.ts';
import { type QueueConfig, queueConfig } from './queue.ts';
import { type DatabaseConfig, databaseSettings } from './database.ts';
import { type OutboundConfig, outboundConfig } from './outbound.ts';

export { type Env, envSchema } from './schema.ts';
export { QUEUE_DEFAULTS, type QueueConfig } from './queue.ts';
export { DATABASE_DEFAULTS, type DatabaseConfig } from './database.ts';
export { OUTBOUND_DEFAULTS, type OutboundConfig } from './outbound.ts';

export type GatehouseEnv = 'development' | 'production';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Typed configuration, parsed once at an entry point and passed down. */
export interface Config {
  readonly env: GatehouseEnv;
  readonly port: number;
  /** Interface the local server binds; loopback unless said otherwise. */
  readonly host: string;
  /** Connection, pools and timeouts (see config/database.ts). */
  readonly database: DatabaseConfig;
  /** Folder for local state: embedded database, generated development secrets. */
  readonly dataDir: string;
  readonly log: { readonly level: LogLevel };
  readonly http: {
    readonly corsOrigins: readonly string[];
    readonly bodyLimitBytes: number;
    /** Requests served at once per process; beyond it 503 before the body is read. */
    readonly maxInFlight: number;
    /** Latency the in-flight limit adapts to hold, ms; 0 keeps it at `maxInFlight`. */
    readonly targetLatencyMs: number;
    /** Declared request body bytes held at once per process; beyond it 503 unread. */
    readonly maxBufferedBytes: number;
  };
  /** Accepted service keys (first is current; the rest are being rotated out). */
  readonly serviceKeys: readonly string[];
  readonly metricsTokens: readonly string[];
  readonly whatsapp: {
    readonly verifyTokens: readonly string[];
    readonly appSecrets: readonly string[];
    readonly accessToken: string | null;
    readonly phoneNumberId: string | null;
    readonly graphUrl: string;
  };
  readonly stripe: { readonly webhookSecrets: readonly string[] };
  readonly paypal: {
    readonly webhookIds: readonly string[];
    readonly certHosts: readonly string[];
  };
  /** The USSD callback's gate: secret path tokens and/or allowed source addresses. */
  readonly ussd: UssdConfig;
  /** Standard Webhooks secrets by source name (lower case), from `WEBHOOK_SECRET_<SOURCE>`. */
  readonly standardWebhooks: Readonly<Record<string, readonly string[]>>;
  readonly supabase: {
    readonly url: string | null;
    readonly jwtSecrets: readonly string[];
    readonly jwksUrl: string | null;
    /** The project's anon key: the web apps' `apikey` (public by design), for `/config.json`. */
    readonly anonKey: string | null;
  };
  /** The user API: how long an `Idempotency-Key`'s first answer is kept for retries. */
  readonly api: { readonly idempotencyTtlSeconds: number };
  /**
   * In-process metrics: recorded unless switched off, and added to `system_metrics` at most
   * every `flushIntervalMs` (and at shutdown).
   */
  readonly metrics: { readonly enabled: boolean; readonly flushIntervalMs: number };
  /**
   * Alerts: evaluated once a minute by a job unless switched off; messages to a
   * Slack-compatible URL per severity (none: the alert is only recorded in `alerts`).
   */
  readonly alerts: {
    readonly enabled: boolean;
    readonly receivers: Readonly<Partial<Record<'P0' | 'P1' | 'P2' | 'P3', string>>>;
  };
  readonly upstash: { readonly url: string; readonly token: string } | null;
  /** The job engine: worker budget, batches, leases, health thresholds, retention. */
  readonly queue: QueueConfig;
  /** Outbound webhooks: secrets at rest, delivery targets, disabling and rotation. */
  readonly outbound: OutboundConfig;
  /**
   * The app's own settings: every variable whose name starts with `APP_`, untouched (the
   * app in `functions/_app` reads and checks them; the platform never does).
   */
  readonly appSettings: Readonly<Record<string, string>>;
}

/** Variables with this prefix are the app's (`Config.appSettings`). */
export const APP_SETTING_PREFIX = 'APP_';

/** One line per bad variable, each naming it, so start-up failures say what to fix. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

function describeIssues(issues: readonly z.core.$ZodIssue[], env: Env): string[] {
  return issues.map((issue) => {
    const variable = String(issue.path[0] ?? '(environment)');
    const raw = env[variable];
    // Echo the bad value only for non-secret, short settings; secrets are never printed.
    const showValue = raw !== undefined && raw.length <= 64 &&
      !/SECRET|TOKEN|KEY|URL/.test(variable);
    return `${variable}: ${issue.message}${showValue ? ` (got ${JSON.stringify(raw)})` : ''}`;
  });
}

/** `whsec_<base64>` (or bare base64) whose key decodes to at least 16 bytes. */
function isStandardSecret(secret: string): boolean {
  const base64 = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) return false;
  try {
    return atob(base64).length >= 16;
  } catch {
    return false;
  }
}

function standardWebhookSecrets(env: Env, problems: string[]): Record<string, string[]> {
  const sources: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(STANDARD_WEBHOOK_SECRET_PREFIX) || value === undefined) continue;
    const source = name.slice(STANDARD_WEBHOOK_SECRET_PREFIX.length);
    if (!/^[A-Z0-9][A-Z0-9_]*$/.test(source)) {
      problems.push(`${name}: the source part must be upper-case letters, digits and underscores`);
      continue;
    }
    const secrets = value.split(',').map((item) => item.trim()).filter((item) => item);
    const malformed = secrets.filter((secret) => !isStandardSecret(secret));
    if (malformed.length > 0) {
      // The secret itself is never echoed: say which entry, by position.
      const positions = malformed.map((secret) => secrets.indexOf(secret) + 1).join(', ');
      problems.push(`${name}: entry ${positions} is not a whsec_<base64> secret`);
      continue;
    }
    if (secrets.length > 0) sources[source.toLowerCase()] = secrets;
  }
  return sources;
}

function productionProblems(parsed: ParsedEnv): string[] {
  if (parsed.GATEHOUSE_ENV !== 'production') return [];
  const problems: string[] = [];
  if (parsed.GATEHOUSE_SERVICE_KEY.length === 0) {
    problems.push('GATEHOUSE_SERVICE_KEY: required when GATEHOUSE_ENV=production');
  } else if (parsed.GATEHOUSE_SERVICE_KEY.some((key) => key.length < MIN_PRODUCTION_KEY_LENGTH)) {
    problems.push(
      `GATEHOUSE_SERVICE_KEY: every key must be at least ${MIN_PRODUCTION_KEY_LENGTH} characters in production`,
    );
  }
  if (!parsed.DATABASE_URL && !parsed.SUPABASE_DB_URL) {
    problems.push(
      'DATABASE_URL: required when GATEHOUSE_ENV=production (the embedded database is for development)',
    );
  }
  for (const severity of ALERT_SEVERITIES) {
    const url = parsed[`GATEHOUSE_ALERT_WEBHOOK_URL_${severity}`];
    if (url !== undefined && !url.startsWith('https://')) {
      problems.push(
        `GATEHOUSE_ALERT_WEBHOOK_URL_${severity}: must be https in production (the URL is a secret)`,
      );
    }
  }
  return problems;
}

const ALERT_SEVERITIES = ['P0', 'P1', 'P2', 'P3'] as const;

/** The alert receivers set, by severity. */
function alertReceivers(
  parsed: ParsedEnv,
): Partial<Record<(typeof ALERT_SEVERITIES)[number], string>> {
  const receivers: Partial<Record<(typeof ALERT_SEVERITIES)[number], string>> = {};
  for (const severity of ALERT_SEVERITIES) {
    const url = parsed[`GATEHOUSE_ALERT_WEBHOOK_URL_${severity}`];
    if (url !== undefined) receivers[severity] = url;
  }
  return receivers;
}

/** How often a process adds its metrics to `system_metrics` by default. */
export const DEFAULT_METRICS_FLUSH_MS = 10_000;

/**
 * Parses the environment into a {@link Config}. Throws {@link ConfigError} listing every
 * missing or malformed variable by name. Pure: reads nothing but its argument.
 *
 * @example
 * const config = parseConfig(Deno.env.toObject());
 * const db = createPostgresDb({ url: config.database.url!, max: config.database.poolSize });
 */
export function parseConfig(env: Env): Config {
  const result = envSchema.safeParse(env);
  const problems = result.success ? [] : describeIssues(result.error.issues, env);
  const standardWebhooks = standardWebhookSecrets(env, problems);
  if (!result.success) throw new ConfigError(problems);
  const parsed = result.data;
  problems.push(...productionProblems(parsed));
  if (parsed.UPSTASH_REDIS_REST_URL && !parsed.UPSTASH_REDIS_REST_TOKEN) {
    problems.push('UPSTASH_REDIS_REST_TOKEN: required when UPSTASH_REDIS_REST_URL is set');
  }
  if (!parsed.UPSTASH_REDIS_REST_URL && parsed.UPSTASH_REDIS_REST_TOKEN) {
    problems.push('UPSTASH_REDIS_REST_URL: required when UPSTASH_REDIS_REST_TOKEN is set');
  }
  for (const host of parsed.PAYPAL_CERT_HOSTS) {
    if (!/^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/i.test(host)) {
      problems.push(
        `PAYPAL_CERT_HOSTS: "${host}" is not a bare hostname (no scheme, port, path or wildcard)`,
      );
    }
  }
  const queue = queueConfig(parsed, problems);
  const bodyLimit = parsed.GATEHOUSE_BODY_LIMIT_BYTES ?? DEFAULT_BODY_LIMIT_BYTES;
  if (
    parsed.GATEHOUSE_MAX_BUFFERED_BYTES !== undefined &&
    parsed.GATEHOUSE_MAX_BUFFERED_BYTES < bodyLimit
  ) {
    problems.push(
      `GATEHOUSE_MAX_BUFFERED_BYTES: must be at least GATEHOUSE_BODY_LIMIT_BYTES (${bodyLimit}), or no body that large is ever admitted`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);

  // None: the embedded database (the local server's default).
  const databaseUrl = parsed.DATABASE_URL ?? parsed.SUPABASE_DB_URL ?? null;
  const corsOrigins = (parsed.GATEHOUSE_CORS_ORIGINS ?? '').split(',').map((item) => item.trim())
    .filter((item) => item);
  return {
    env: parsed.GATEHOUSE_ENV,
    port: parsed.PORT ?? DEFAULT_PORT,
    host: parsed.GATEHOUSE_HOST ?? '127.0.0.1',
    database: {
      url: databaseUrl,
      prepare: parsed.GATEHOUSE_DB_PREPARE ?? false,
      embeddedPort: parsed.GATEHOUSE_EMBEDDED_DB_PORT ?? DEFAULT_EMBEDDED_DB_PORT,
      ...databaseSettings(parsed, queue.concurrency),
    },
    dataDir: parsed.GATEHOUSE_DATA_DIR ?? '.data',
    log: { level: parsed.GATEHOUSE_LOG_LEVEL },
    http: {
      corsOrigins,
      bodyLimitBytes: bodyLimit,
      maxInFlight: parsed.GATEHOUSE_MAX_IN_FLIGHT ?? DEFAULT_MAX_IN_FLIGHT,
      targetLatencyMs: parsed.GATEHOUSE_LATENCY_TARGET_MS ??
        (databaseUrl === null ? DEFAULT_EMBEDDED_LATENCY_TARGET_MS : DEFAULT_LATENCY_TARGET_MS),
      maxBufferedBytes: parsed.GATEHOUSE_MAX_BUFFERED_BYTES ?? DEFAULT_MAX_BUFFERED_BYTES,
    },
    serviceKeys: parsed.GATEHOUSE_SERVICE_KEY,
    metricsTokens: parsed.METRICS_TOKEN,
    whatsapp: {
      verifyTokens: parsed.WHATSAPP_VERIFY_TOKEN,
      appSecrets: parsed.WHATSAPP_APP_SECRET,
      accessToken: parsed.WHATSAPP_ACCESS_TOKEN ?? null,
      phoneNumberId: parsed.WHATSAPP_PHONE_NUMBER_ID ?? null,
      graphUrl: parsed.WHATSAPP_GRAPH_URL ?? DEFAULT_WHATSAPP_GRAPH_URL,
    },
    stripe: { webhookSecrets: parsed.STRIPE_WEBHOOK_SECRET },
    paypal: {
      webhookIds: parsed.PAYPAL_WEBHOOK_ID,
      certHosts: parsed.PAYPAL_CERT_HOSTS.length > 0
        ? parsed.PAYPAL_CERT_HOSTS.map((host) => host.toLowerCase())
        : DEFAULT_PAYPAL_CERT_HOSTS,
    },
    ussd: ussdConfig(parsed),
    standardWebhooks,
    supabase: {
      url: parsed.SUPABASE_URL ?? null,
      jwtSecrets: parsed.SUPABASE_JWT_SECRET,
      jwksUrl: parsed.SUPABASE_JWKS_URL ?? null,
      anonKey: parsed.SUPABASE_ANON_KEY ?? null,
    },
    api: {
      idempotencyTtlSeconds: parsed.GATEHOUSE_IDEMPOTENCY_TTL_SECONDS ??
        DEFAULT_IDEMPOTENCY_TTL_SECONDS,
    },
    metrics: {
      enabled: parsed.GATEHOUSE_METRICS ?? true,
      flushIntervalMs: parsed.GATEHOUSE_METRICS_FLUSH_MS ?? DEFAULT_METRICS_FLUSH_MS,
    },
    alerts: { enabled: parsed.GATEHOUSE_ALERTS ?? true, receivers: alertReceivers(parsed) },
    upstash: parsed.UPSTASH_REDIS_REST_URL && parsed.UPSTASH_REDIS_REST_TOKEN
      ? { url: parsed.UPSTASH_REDIS_REST_URL, token: parsed.UPSTASH_REDIS_REST_TOKEN }
      : null,
    queue,
    outbound: outboundConfig(parsed, parsed.GATEHOUSE_ENV === 'production'),
    appSettings: Object.fromEntries(
      Object.entries(env).filter((entry): entry is [string, string] =>
        entry[0].startsWith(APP_SETTING_PREFIX) && typeof entry[1] === 'string' &&
        entry[1].trim() !== ''
      ).map(([key, value]) => [key, value.trim()]),
    ),
  };
}
