import { z } from 'zod';
import { sha256Hex } from '../../crypto/index.ts';
import { type IntakeEvent, MalformedPayloadError } from './types.ts';

// Shapes from Meta's Cloud API webhook reference ("messages" field). Objects are loose:
// unknown fields are kept in the stored payload, so new Meta fields are never lost.
const message = z.looseObject({
  id: z.string().min(1),
  from: z.string().min(1),
  timestamp: z.string().optional(),
  type: z.string().optional(),
});
const status = z.looseObject({
  id: z.string().min(1),
  status: z.string().min(1),
  timestamp: z.string().optional(),
  recipient_id: z.string().optional(),
});
const contact = z.looseObject({ wa_id: z.string().optional() });
const value = z.looseObject({
  messaging_product: z.string().optional(),
  metadata: z.looseObject({
    phone_number_id: z.string().optional(),
    display_phone_number: z.string().optional(),
  }).optional(),
  contacts: z.array(contact).optional(),
  messages: z.array(message).optional(),
  statuses: z.array(status).optional(),
});
const change = z.looseObject({ field: z.string().min(1), value: z.unknown() });
const notification = z.looseObject({
  object: z.string().min(1),
  entry: z.array(z.looseObject({ id: z.string().optional(), changes: z.array(change) })),
});

export interface WhatsAppDelivery {
  readonly events: IntakeEvent[];
  /** Business phone number ids the delivery is for (the per-number limit's keys). */
  readonly phoneNumberIds: string[];
}

/**
 * Splits a WhatsApp notification into events: one per message (key = `wamid`), one per
 * status (key = `<status id>:<status>`, since one message reports sent, delivered, read),
 * and one per other change (key = `<field>:<sha256 of the change>`), so nothing is dropped.
 */
export async function extractWhatsAppEvents(body: unknown): Promise<WhatsAppDelivery> {
  const parsed = notification.safeParse(body);
  if (!parsed.success) throw new MalformedPayloadError('not a WhatsApp notification');
  const events: IntakeEvent[] = [];
  const numbers = new Set<string>();
  for (const entry of parsed.data.entry) {
    for (const item of entry.changes) {
      if (item.field !== 'messages') {
        const key = `${item.field}:${await sha256Hex(JSON.stringify(item))}`;
        events.push({
          key,
          type: item.field,
          kind: 'whatsapp.change',
          sender: null,
          payload: item,
        });
        continue;
      }
      const fields = value.safeParse(item.value);
      if (!fields.success) throw new MalformedPayloadError('malformed messages change');
      const { metadata, contacts = [], messages = [], statuses = [] } = fields.data;
      if (metadata?.phone_number_id) numbers.add(metadata.phone_number_id);
      for (const msg of messages) {
        const sender = contacts.find((c) => c.wa_id === msg.from) ?? null;
        events.push({
          key: msg.id,
          type: 'message',
          kind: 'whatsapp.message',
          sender: msg.from,
          payload: { message: msg, contact: sender, metadata: metadata ?? null },
        });
      }
      for (const st of statuses) {
        events.push({
          key: `${st.id}:${st.status}`,
          type: 'status',
          kind: 'whatsapp.status',
          sender: null,
          payload: { status: st, metadata: metadata ?? null },
        });
      }
    }
  }
  return { events, phoneNumberIds: [...numbers] };
}
