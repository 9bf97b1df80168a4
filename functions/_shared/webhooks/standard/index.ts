import { extractStandardEvent } from '../events/single.ts';
import { parseJson } from '../events/types.ts';
import { providerBucket, type ProviderModule, type RouteParams, seconds } from '../provider.ts';
import { verifyStandardWebhook } from './verify.ts';
import { JOB_KINDS } from './kinds.ts';

const source = (params: RouteParams) => (params.source ?? '').toLowerCase().replaceAll('-', '_');

/**
 * Standard Webhooks senders, one route per source (`/standard/<source>`, secrets in
 * `WEBHOOK_SECRET_<SOURCE>`), each its own provider `standard:<source>` and bucket.
 */
export const standard: ProviderModule = {
  jobKinds: JOB_KINDS,
  create: ({ config, now, limits }) => {
    const secretsOf = (params: RouteParams) =>
      Object.hasOwn(config.standardWebhooks, source(params))
        ? config.standardWebhooks[source(params)]!
        : [];
    return {
      path: '/standard/:source',
      flag: 'intake.standard',
      name: (params) => `standard:${source(params)}`,
      signedWith: (params) => ({
        secrets: secretsOf(params),
        headers: ['webhook-id', 'webhook-timestamp', 'webhook-signature'],
      }),
      receive(raw, headers, params) {
        const verified = verifyStandardWebhook(raw, headers, secretsOf(params), seconds(now));
        return Promise.resolve({
          events: [extractStandardEvent(parseJson(raw), verified.id)],
          limits: providerBucket(`standard:${source(params)}:global`, limits),
        });
      },
    };
  },
};
