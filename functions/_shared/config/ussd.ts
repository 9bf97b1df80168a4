import { z } from 'zod';
import { parseIpRule } from '../net/ip-rules.ts';

/** Shortest accepted USSD path token: it is the only secret of a callback URL. */
export const MIN_USSD_PATH_TOKEN_LENGTH = 16;

// Characters that stand in a URL path segment as they are (RFC 3986 "unreserved").
const PATH_SEGMENT = /^[A-Za-z0-9._~-]+$/;

/** A comma-separated list; empty entries and an empty value mean none. */
const list = z.string().trim().optional().transform((value) =>
  (value ?? '').split(',').map((item) => item.trim()).filter((item) => item)
);

/** The USSD gate's variables, merged into the main schema. */
export const ussdEnvShape = {
  // Secret path segments (`POST /webhooks/ussd/<token>`); several while one is rotated out.
  USSD_PATH_TOKEN: list.superRefine((tokens, context) => {
    const bad = tokens.some((token) =>
      token.length < MIN_USSD_PATH_TOKEN_LENGTH || !PATH_SEGMENT.test(token)
    );
    if (bad) {
      context.addIssue({
        code: 'custom',
        message: `every token must be at least ${MIN_USSD_PATH_TOKEN_LENGTH} characters of ` +
          'A-Z a-z 0-9 . _ ~ - (it is part of the callback URL)',
      });
    }
  }),
  // Addresses Africa's Talking calls from: IPv4, IPv4 CIDR or IPv6, comma-separated.
  USSD_ALLOWED_IPS: list.superRefine((entries, context) => {
    for (const entry of entries) {
      try {
        parseIpRule(entry);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
      }
    }
  }),
};

export interface UssdConfig {
  /** Accepted path tokens; empty: `POST /webhooks/ussd/<token>` does not exist. */
  readonly pathTokens: readonly string[];
  /** Allowed client addresses and ranges; empty: no address check. */
  readonly allowedIps: readonly string[];
}

type UssdEnv = { readonly [K in keyof typeof ussdEnvShape]: z.output<(typeof ussdEnvShape)[K]> };

/** The USSD gate settings. With neither list set, the route refuses every callback. */
export function ussdConfig(parsed: UssdEnv): UssdConfig {
  return { pathTokens: parsed.USSD_PATH_TOKEN, allowedIps: parsed.USSD_ALLOWED_IPS };
}
