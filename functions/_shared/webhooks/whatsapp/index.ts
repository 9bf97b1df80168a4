import { parseJson } from '../events/types.ts';
import { WHATSAPP_BODY_LIMIT_BYTES } from '../limits.ts';
import { endpoint, type ProviderModule } from '../provider.ts';
import { extractWhatsAppEvents } from './extract.ts';
import {
  verifyWhatsAppSignature,
  verifyWhatsAppSubscription,
  WHATSAPP_SIGNATURE_HEADER,
} from './verify.ts';

/**
 * WhatsApp Cloud API (Meta): `X-Hub-Signature-256` over the body with the app secret; one
 * notification carries many messages and statuses, limited per business number (429 to
 * Meta) and per sender (stored `rate_limited`).
 */
export const whatsapp: ProviderModule = {
  jobKinds: ['whatsapp.message', 'whatsapp.status', 'whatsapp.change'],
  endpoints: (config) => [{
    ...endpoint('whatsapp', '/whatsapp', config.whatsapp.appSecrets, 'WHATSAPP_APP_SECRET'),
    note: 'verify token: WHATSAPP_VERIFY_TOKEN',
  }],
  create: ({ config, limits }) => ({
    paths: ['/whatsapp'],
    flag: 'intake.whatsapp',
    bodyLimitBytes: WHATSAPP_BODY_LIMIT_BYTES,
    name: () => 'whatsapp',
    signedWith: () => ({
      secrets: config.whatsapp.appSecrets,
      headers: [WHATSAPP_SIGNATURE_HEADER],
    }),
    verify(raw, headers) {
      verifyWhatsAppSignature(
        raw,
        headers.get(WHATSAPP_SIGNATURE_HEADER),
        config.whatsapp.appSecrets,
      );
    },
    extract(raw) {
      const { events, phoneNumberIds } = extractWhatsAppEvents(parseJson(raw));
      const number = phoneNumberIds[0] ?? 'unknown';
      return {
        events,
        limits: {
          global: { key: `whatsapp:number:${number}`, ...limits.whatsappPerNumber },
          sender: limits.whatsappPerSender,
        },
      };
    },
    subscribe: (query) => verifyWhatsAppSubscription(query, config.whatsapp.verifyTokens),
  }),
};
