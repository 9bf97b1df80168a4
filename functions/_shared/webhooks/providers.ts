import type { Config } from '../config/index.ts';
import type { ProviderModule, WebhookEndpoint } from './provider.ts';
import { paypal } from './paypal/index.ts';
import { standard } from './standard/index.ts';
import { stripe } from './stripe/index.ts';
import { ussd } from './ussd/index.ts';
import { whatsapp } from './whatsapp/index.ts';

/**
 * The providers Gatehouse receives webhooks from, one module each. Adding a provider is a
 * folder beside these (its `index.ts` exporting a `ProviderModule`) and one line here; see
 * docs/providers.md.
 */
export const PROVIDERS: readonly ProviderModule[] = [whatsapp, stripe, paypal, standard, ussd];

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
