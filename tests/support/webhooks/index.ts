/** Test support for webhook verifiers and for tests of the whole intake. */
export {
  fromBase64,
  signStandard,
  signStripe,
  signWhatsApp,
  toBase64,
} from '../../../functions/_shared/webhooks/signing.ts';
export { signatureFailure } from './assertions.ts';
export {
  whatsappDelivery,
  whatsappNotification,
  type WhatsAppTextMessage,
} from '../../../functions/_shared/webhooks/whatsapp/notification.ts';
