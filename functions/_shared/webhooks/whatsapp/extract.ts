import { z } from 'zod';
import { sha256Hex } from '../../crypto/index.ts';
import { identifier, parseOrRefuse } from '../events/fields.ts';
import { type IntakeEvent, MalformedPayloadError } from '../events/types.ts';

/** The only `object` a WhatsApp Business notification carries. */
export const WHATSAPP_OBJECT = 'whatsapp_business_account';

// Limits, in characters of visible ASCII (see fields.ts). Each bounds a stored key:
// message `id` (key), status `id` + `status` (key `<id>:<status>`), change `field` (key
// `<field>:<sha256>`), `from` (the sender's bucket key), `phone_number_id` (the number's
// bucket key).

/** Longest message `id` (wamid) stored; Meta's are about 60-100 characters of base64. */
export const WHATSAPP_MESSAGE_ID_MAX_CHARS = 256;
/** Longest status `id` stored: the wamid of the message the status is about. */
export const WHATSAPP_STATUS_ID_MAX_CHARS = 256;
/** Longest status value stored (`sent`, `delivered`, `read`, `failed`, ...). */
export const WHATSAPP_STATUS_MAX_CHARS = 64;
/** Longest `from` stored: a phone number in digits today, room for Meta's other user ids. */
export const WHATSAPP_SENDER_MAX_CHARS = 128;
/** Longest change `field` stored (e.g. `message_template_status_update`). */
export const WHATSAPP_FIELD_MAX_CHARS = 128;
/** Longest `metadata.phone_number_id` stored (a number's id, about 15 digits). */
export const WHATSAPP_PHONE_NUMBER_ID_MAX_CHARS = 64;

// Shapes from Meta's Cloud API webhook reference ("messages" field). Objects are loose:
// unknown fields are kept in the stored payload, so new Meta fields are never lost.
const message = z.looseObject({
  id: identifier(WHATSAPP_MESSAGE_ID_MAX_CHARS),
  from: identifier(WHATSAPP_SENDER_MAX_CHARS),
  timestamp: z.string().optional(),
  type: z.string().optional(),
});
const status = z.looseObject({
  id: identifier(WHATSAPP_STATUS_ID_MAX_CHARS),
  status: identifier(WHATSAPP_STATUS_MAX_CHARS),
  timestamp: z.string().optional(),
  recipient_id: z.string().optional(),
});
const contact = z.looseObject({ wa_id: z.string().optional() });
const value = z.looseObject({
  messaging_product: z.string().optional(),
  metadata: z.looseObject({
    phone_number_id: identifier(WHATSAPP_PHONE_NUMBER_ID_MAX_CHARS).optional(),
    display_phone_number: z.string().optional(),
  }).optional(),
  contacts: z.array(contact).optional(),
  messages: z.array(message).optional(),
  statuses: z.array(status).optional(),
});
const change = z.looseObject({ field: identifier(WHATSAPP_FIELD_MAX_CHARS), value: z.unknown() });
const notification = z.looseObject({
  object: z.literal(WHATSAPP_OBJECT, { error: `must be "${WHATSAPP_OBJECT}"` }),
  entry: z.array(z.looseObject({ id: z.string().optional(), changes: z.array(change) }))
    .min(1, 'must hold at least one entry'),
});

type Change = z.infer<typeof change>;

export interface WhatsAppDelivery {
  /** Never empty: a notification that carries nothing to store is refused. */
  readonly events: IntakeEvent[];
  /** Business phone number ids the delivery is for (the per-number limit's keys). */
  readonly phoneNumberIds: string[];
}

/**
 * Splits a WhatsApp notification into events: one per message (key = `wamid`), one per
 * status (key = `<status id>:<status>`, since one message reports sent, delivered, read),
 * and one per other change (key = `<field>:<sha256 of the change>`), so nothing is dropped:
 * a `messages` change with neither messages nor statuses (Meta reports errors that way,
 * in `value.errors`) is stored whole like any other change.
 *
 * Throws MalformedPayloadError, naming the field, for anything else: another `object`
 * (a Page or Instagram notification), no entry, a field over its limit, or a notification
 * with no change at all.
 */
export async function extractWhatsAppEvents(body: unknown): Promise<WhatsAppDelivery> {
  const parsed = parseOrRefuse(notification, body, 'not a WhatsApp Business notification');
  const events: IntakeEvent[] = [];
  const numbers = new Set<string>();
  for (const [e, entry] of parsed.entry.entries()) {
    for (const [c, item] of entry.changes.entries()) {
      if (item.field !== 'messages') {
        events.push(await changeEvent(item));
        continue;
      }
      const fields = parseOrRefuse(
        value,
        item.value,
        'malformed messages change',
        `entry[${e}].changes[${c}].value`,
      );
      const { metadata, contacts = [], messages = [], statuses = [] } = fields;
      if (metadata?.phone_number_id) numbers.add(metadata.phone_number_id);
      if (messages.length === 0 && statuses.length === 0) {
        events.push(await changeEvent(item));
        continue;
      }
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
  if (events.length === 0) {
    throw new MalformedPayloadError('the WhatsApp notification carries no change to store');
  }
  return { events, phoneNumberIds: [...numbers] };
}

/** A change stored as it came, keyed by its field and a hash of its content. */
async function changeEvent(item: Change): Promise<IntakeEvent> {
  return {
    key: `${item.field}:${await sha256Hex(JSON.stringify(item))}`,
    type: item.field,
    kind: 'whatsapp.change',
    sender: null,
    payload: item,
  };
}
