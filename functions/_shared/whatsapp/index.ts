/**
 * Sending on WhatsApp: the Cloud API client, its error classes, and the outbound side of
 * `whatsapp_logs` (what was sent, and what became of it from Meta's status webhooks).
 * The platform's piece: any app on Gatehouse uses it; the reference app's bot is one.
 */
export {
  createWhatsAppClient,
  type DownloadedMedia,
  type ListRow,
  messageBody,
  type OutboundMessage,
  type SendOptions,
  type SentMessage,
  WHATSAPP_LIMITS,
  type WhatsAppClient,
  type WhatsAppClientOptions,
} from './client.ts';
export {
  classifyGraphError,
  type GraphErrorClass,
  jobErrorFor,
  WhatsAppApiError,
} from './errors.ts';
export { applyWhatsAppStatus, logOutboundMessage } from './log.ts';
export {
  createWhatsAppSender,
  WHATSAPP_SEND_KIND,
  WHATSAPP_SEND_QUEUE,
  type WhatsAppSender,
  whatsappSendHandler,
  type WhatsAppSendPayload,
} from './sender.ts';
