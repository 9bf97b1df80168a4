import { createHmac } from 'node:crypto';

/** Distinct senders in the generated traffic (each has its own per-sender bucket). */
export const SENDERS = 5_000;

/** A WhatsApp notification carrying one text message, numbered `n` (its wamid is unique). */
export function whatsappBody(n: number, run: string): string {
  const sender = `1555${n % SENDERS}`;
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{
      id: 'WABA',
      changes: [{
        field: 'messages',
        value: {
          messaging_product: 'whatsapp',
          metadata: { display_phone_number: '15550000000', phone_number_id: 'PNID' },
          contacts: [{ wa_id: sender, profile: { name: 'Bench' } }],
          messages: [{
            id: `wamid.bench.${run}.${n}`,
            from: sender,
            timestamp: '1700000000',
            type: 'text',
            text: { body: `message ${n}` },
          }],
        },
      }],
    }],
  });
}

/** Meta's `X-Hub-Signature-256` value for `body` under `secret`. */
export function whatsappSignature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
