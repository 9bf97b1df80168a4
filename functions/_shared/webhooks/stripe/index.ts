import { extractStripeEvent } from './extract.ts';
import { assertStorableJson, MalformedPayloadError } from '../events/types.ts';
import { endpoint, providerBucket, type ProviderModule, seconds } from '../provider.ts';
import { STRIPE_SIGNATURE_HEADER, verifyStripeSignature } from './verify.ts';

/** Stripe: `Stripe-Signature` (timestamped HMAC), one event per delivery, keyed by its id. */
export const stripe: ProviderModule = {
  jobKinds: ['stripe.event'],
  endpoints: (config) => [
    endpoint('stripe', '/stripe', config.stripe.webhookSecrets, 'STRIPE_WEBHOOK_SECRET'),
  ],
  create: ({ config, now, limits }) => ({
    paths: ['/stripe'],
    flag: 'intake.stripe',
    name: () => 'stripe',
    signedWith: () => ({
      secrets: config.stripe.webhookSecrets,
      headers: [STRIPE_SIGNATURE_HEADER],
    }),
    // Stripe's library parses the body as it verifies; extraction takes its event.
    verify: (raw, headers) =>
      verifyStripeSignature(
        raw,
        headers.get(STRIPE_SIGNATURE_HEADER),
        config.stripe.webhookSecrets,
        seconds(now),
      ).catch((error: unknown) => {
        // The library parses after verifying: a signed body that is not JSON lands here.
        if (error instanceof SyntaxError) throw new MalformedPayloadError('body is not valid JSON');
        throw error;
      }),
    extract(raw, event: unknown) {
      assertStorableJson(raw);
      return {
        events: [extractStripeEvent(event)],
        limits: providerBucket('stripe:global', limits),
      };
    },
  }),
};
