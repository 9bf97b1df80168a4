import { whatsappNotification } from '../../functions/_shared/webhooks/whatsapp/notification.ts';

/** Distinct senders in the generated traffic (each has its own per-sender bucket). */
export const SENDERS = 5_000;

/** A WhatsApp notification carrying one text message, numbered `n` (its wamid is unique). */
export function whatsappBody(n: number, run: string): string {
  const sender = `1555${n % SENDERS}`;
  return whatsappNotification(
    [{ id: `wamid.bench.${run}.${n}`, from: sender, text: `message ${n}` }],
    { phoneNumberId: 'PNID' },
  );
}
