import { extractPayPalEvent } from './extract.ts';
import { parseJson } from '../events/types.ts';
import { endpoint, providerBucket, type ProviderModule } from '../provider.ts';
import { createPayPalVerifier, PAYPAL_HEADERS } from './verify.ts';

/** PayPal: its certificate-signed transmission headers, checked against the webhook id. */
export const paypal: ProviderModule = {
  jobKinds: ['paypal.event'],
  endpoints: (config) => [
    endpoint('paypal', '/paypal', config.paypal.webhookIds, 'PAYPAL_WEBHOOK_ID'),
  ],
  create: ({ config, fetch, now, limits }) => {
    const verifier = createPayPalVerifier({
      webhookIds: config.paypal.webhookIds,
      certHosts: config.paypal.certHosts,
      fetch,
      now,
    });
    return {
      paths: ['/paypal'],
      flag: 'intake.paypal',
      name: () => 'paypal',
      signedWith: () => ({
        secrets: config.paypal.webhookIds,
        headers: Object.values(PAYPAL_HEADERS),
      }),
      verify: (raw, headers) => verifier.verify(raw, headers),
      extract(raw) {
        return {
          events: [extractPayPalEvent(parseJson(raw))],
          limits: providerBucket('paypal:global', limits),
        };
      },
    };
  },
};
