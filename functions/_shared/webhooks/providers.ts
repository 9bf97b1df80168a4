import type { ProviderModule } from './provider.ts';
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
