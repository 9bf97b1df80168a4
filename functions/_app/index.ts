/**
 * The app built on Gatehouse: the reference WhatsApp mobility hub. Everything it adds to the
 * platform is registered here and reaches every host (edge functions, local server, CLI)
 * through the runtime; `functions/_shared` never imports this folder. An adopter replaces
 * this folder and keeps the rest.
 */
import type { GatehouseApp } from '../_shared/app.ts';
import { mobilityMenu, RIDE_REQUEST } from './ussd-menu.ts';

export const app: GatehouseApp = {
  name: 'mobility',
  ussd: { menu: mobilityMenu, actions: [RIDE_REQUEST] },
};
