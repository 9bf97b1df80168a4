import { extractStandardEvent } from './extract.ts';
import { parseJson } from '../events/types.ts';
import { providerBucket, type ProviderModule, type RouteParams, seconds } from '../provider.ts';
import { verifyStandardWebhook } from './verify.ts';

const source = (params: RouteParams) => (params.source ?? '').toLowerCase().replaceAll('-', '_');

/**
 * Standard Webhooks senders, one route per source (`/standard/<source>`, secrets in
 * `WEBHOOK_SECRET_<SOURCE>`), each its own provider `standard:<source>` and bucket.
 */
export const standard: ProviderModule<{ id: string }> = {
  jobKinds: ['standard.event'],
  // One per configured source; with none, the route to configure, refusing until then.
  endpoints: (config) => {
    const sources = Object.keys(config.standardWebhooks).sort();
    if (sources.length === 0) {
      return [{
        provider: 'standard:<source>',
        flag: 'intake.standard',
        path: '/standard/<source>',
        missing: 'WEBHOOK_SECRET_<SOURCE>',
      }];
    }
    return sources.map((name) => ({
      provider: `standard:${name}`,
      path: `/standard/${name}`,
      flag: 'intake.standard',
    }));
  },
  create: ({ config, now, limits }) => {
    const secretsOf = (params: RouteParams) =>
      Object.hasOwn(config.standardWebhooks, source(params))
        ? config.standardWebhooks[source(params)]!
        : [];
    return {
      paths: ['/standard/:source'],
      flag: 'intake.standard',
      name: (params) => `standard:${source(params)}`,
      signedWith: (params) => ({
        secrets: secretsOf(params),
        headers: ['webhook-id', 'webhook-timestamp', 'webhook-signature'],
      }),
      verify: (raw, headers, params) =>
        verifyStandardWebhook(raw, headers, secretsOf(params), seconds(now)),
      extract(raw, verified, params) {
        return {
          events: [extractStandardEvent(parseJson(raw), verified.id)],
          limits: providerBucket(`standard:${source(params)}:global`, limits),
        };
      },
    };
  },
};
