import type { Config } from '../_shared/config/index.ts';
import type { ProviderModule, WebhookEndpoint } from '../_shared/webhooks/provider.ts';
import { PROVIDERS } from '../_shared/webhooks/providers.ts';

export type { WebhookEndpoint } from '../_shared/webhooks/provider.ts';

/**
 * The URLs to register with each provider, from the config: every provider module's
 * endpoints, with the variable one still lacks when it refuses every delivery.
 *
 * @example
 * webhookEndpoints(config).map((e) => `${e.provider} ${base}/webhooks${e.path}`);
 */
export function webhookEndpoints(
  config: Config,
  providers: readonly ProviderModule[] = PROVIDERS,
): WebhookEndpoint[] {
  return providers.flatMap((provider) => provider.endpoints(config));
}
