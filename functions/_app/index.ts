/**
 * The app built on Gatehouse: the reference WhatsApp mobility hub. Everything it adds to the
 * platform is registered here and reaches every host (edge functions, local server, CLI)
 * through the runtime; `functions/_shared` never imports this folder. An adopter replaces
 * this folder and keeps the rest.
 */
import type { GatehouseApp } from '../_shared/app.ts';
import { BOT_FLAGS, handleWhatsAppMessage } from './bot/index.ts';
import { READ_PLATE_JOB, readPlate } from './ocr/index.ts';
import { applyPaymentEvent } from './payments/index.ts';
import { mobilityMenu, RIDE_REQUEST } from './ussd-menu.ts';

export const app: GatehouseApp = {
  name: 'mobility',
  processors: {
    'whatsapp.message': handleWhatsAppMessage,
    'stripe.event': applyPaymentEvent,
    'paypal.event': applyPaymentEvent,
  },
  jobs: {
    [READ_PLATE_JOB]: { handler: readPlate, policy: { maxAttempts: 4, timeoutMs: 60_000 } },
  },
  ussd: { menu: mobilityMenu, actions: [RIDE_REQUEST] },
  flags: {
    [BOT_FLAGS.rides]: { description: 'WhatsApp bot: schedule a ride, my rides, cancel a ride' },
    [BOT_FLAGS.vehicles]: { description: 'WhatsApp bot: register a vehicle' },
    [BOT_FLAGS.payments]: { description: 'WhatsApp bot: pay / my payment codes' },
    [BOT_FLAGS.ocr]: { description: 'WhatsApp bot: read the plate on a photo (OCR)' },
  },
};
