import type { Config } from '../_shared/config/index.ts';

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
}

/**
 * The URLs to register with each provider, from the config: every provider's route, with
 * the variable it still lacks when it refuses every delivery. A path token is shown as
 * `<USSD_PATH_TOKEN>`, never its value.
 *
 * @example
 * webhookEndpoints(config).map((e) => `${e.provider} ${base}/webhooks${e.path}`);
 */
export function webhookEndpoints(config: Config): WebhookEndpoint[] {
  const endpoints: WebhookEndpoint[] = [
    {
      provider: 'whatsapp',
      path: '/whatsapp',
      note: 'verify token: WHATSAPP_VERIFY_TOKEN',
      ...(config.whatsapp.appSecrets.length === 0 ? { missing: 'WHATSAPP_APP_SECRET' } : {}),
    },
    {
      provider: 'stripe',
      path: '/stripe',
      ...(config.stripe.webhookSecrets.length === 0 ? { missing: 'STRIPE_WEBHOOK_SECRET' } : {}),
    },
    {
      provider: 'paypal',
      path: '/paypal',
      ...(config.paypal.webhookIds.length === 0 ? { missing: 'PAYPAL_WEBHOOK_ID' } : {}),
    },
  ];
  const sources = Object.keys(config.standardWebhooks).sort();
  for (const source of sources) {
    endpoints.push({ provider: `standard:${source}`, path: `/standard/${source}` });
  }
  if (sources.length === 0) {
    endpoints.push({
      provider: 'standard:<source>',
      path: '/standard/<source>',
      missing: 'WEBHOOK_SECRET_<SOURCE>',
    });
  }
  const { pathTokens, allowedIps } = config.ussd;
  endpoints.push({
    provider: 'ussd',
    path: pathTokens.length > 0 ? '/ussd/<USSD_PATH_TOKEN>' : '/ussd',
    ...(pathTokens.length === 0 && allowedIps.length === 0
      ? { missing: 'USSD_PATH_TOKEN or USSD_ALLOWED_IPS' }
      : {}),
  });
  return endpoints;
}
