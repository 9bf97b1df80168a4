import { z } from 'zod';
import { parseIpRule } from '../net/ip-rules.ts';
import { wholeNumber } from './fields.ts';

/** A comma-separated list; empty entries and an empty value mean none. */
const list = z.string().trim().optional().transform((value) =>
  (value ?? '').split(',').map((item) => item.trim()).filter((item) => item)
);

/** An encryption key: 32 random bytes, base64 or base64url (43 or 44 characters). */
const KEY = /^[A-Za-z0-9+/_-]{43}=?$/;
const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export const OUTBOUND_DEFAULTS = {
  disableAfterHours: 120,
  secretOverlapHours: 24,
} as const;

/** Outbound webhooks' variables, merged into the main schema. */
export const outboundEnvShape = {
  // Keys that encrypt the endpoints' signing secrets in the database: the first encrypts,
  // every one decrypts (rotation).
  GATEHOUSE_ENCRYPTION_KEY: list.superRefine((keys, context) => {
    if (keys.some((key) => !KEY.test(key))) {
      context.addIssue({
        code: 'custom',
        message: 'every key must be 32 random bytes in base64 (e.g. `openssl rand -base64 32`)',
      });
    }
  }),
  // Delivery targets let through the address checks: hostnames, IPs or CIDR ranges.
  GATEHOUSE_WEBHOOK_ALLOWED_TARGETS: list.superRefine((entries, context) => {
    for (const entry of entries) {
      if (HOSTNAME.test(entry.toLowerCase()) && !/^[\d.]+$/.test(entry)) continue;
      try {
        parseIpRule(entry);
      } catch {
        context.addIssue({
          code: 'custom',
          message: `"${entry}" is neither a hostname nor an IP address or CIDR range`,
        });
      }
    }
  }),
  GATEHOUSE_WEBHOOK_DISABLE_AFTER_HOURS: wholeNumber(1, 24 * 365),
  GATEHOUSE_WEBHOOK_SECRET_OVERLAP_HOURS: wholeNumber(0, 24 * 30),
};

export interface OutboundConfig {
  /** Keys for the signing secrets at rest (the first encrypts); none: endpoints cannot sign. */
  readonly encryptionKeys: readonly string[];
  /** Hostnames and IP ranges deliveries may reach despite the address checks. */
  readonly allowedTargets: readonly string[];
  /** Plain http targets allowed (development only). */
  readonly allowHttp: boolean;
  /** An endpoint failing this long without a success is disabled. */
  readonly disableAfterMs: number;
  /** How long a rotated-out secret keeps signing beside the new one, by default. */
  readonly secretOverlapMs: number;
}

type OutboundEnv = {
  readonly [K in keyof typeof outboundEnvShape]?: z.output<(typeof outboundEnvShape)[K]>;
};

/**
 * In development the loopback addresses are allowed targets unless the list is set, and
 * plain http is allowed; production allows https to public addresses only, plus the list.
 */
export function outboundConfig(parsed: OutboundEnv, production: boolean): OutboundConfig {
  const allowed = (parsed.GATEHOUSE_WEBHOOK_ALLOWED_TARGETS ?? []).map((entry) =>
    entry.toLowerCase()
  );
  return {
    encryptionKeys: parsed.GATEHOUSE_ENCRYPTION_KEY ?? [],
    allowedTargets: allowed.length > 0 || production
      ? allowed
      : ['localhost', '127.0.0.0/8', '::1'],
    allowHttp: !production,
    disableAfterMs: (parsed.GATEHOUSE_WEBHOOK_DISABLE_AFTER_HOURS ??
      OUTBOUND_DEFAULTS.disableAfterHours) * 3_600_000,
    secretOverlapMs: (parsed.GATEHOUSE_WEBHOOK_SECRET_OVERLAP_HOURS ??
      OUTBOUND_DEFAULTS.secretOverlapHours) * 3_600_000,
  };
}
