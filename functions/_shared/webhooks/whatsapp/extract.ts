import { z } from 'zod';
import { sha256Hex } from '../../crypto/index.ts';
import { identifier, isIdentifier, parseOrRefuse } from '../events/fields.ts';
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

/** The schemas, for tests comparing them with the hand-written checks below. */
export const whatsappSchemas = { notification, messagesValue: value, change } as const;

type Change = z.infer<typeof change>;
type Notification = z.infer<typeof notification>;
type MessagesValue = z.infer<typeof value>;

// The same rules checked by hand, without the schemas' copies of every object: nearly
// every delivery is a well-formed `messages` notification, and zod's parse (which copies
// what it checks) was the largest single part of a delivery's JavaScript. A body the checks
// refuse goes to the schemas, which refuse it too and name the field at fault; the checks
// must never pass what the schemas refuse (extract.test.ts generates bodies to compare).

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isOptionalString = (v: unknown) => v === undefined || typeof v === 'string';

/** `list` absent, or an array of records each passing `check`. */
function isOptionalListOf(list: unknown, check: (item: Record<string, unknown>) => boolean) {
  if (list === undefined) return true;
  if (!Array.isArray(list)) return false;
  for (const item of list) if (!isRecord(item) || !check(item)) return false;
  return true;
}

/** `body` as the notification schema's output when it passes the schema's rules, else null. */
export function checkedNotification(body: unknown): Notification | null {
  if (!isRecord(body) || body.object !== WHATSAPP_OBJECT) return null;
  const entries = body.entry;
  if (!Array.isArray(entries) || entries.length === 0) return null;
  for (const entry of entries) {
    if (!isRecord(entry) || !isOptionalString(entry.id) || !Array.isArray(entry.changes)) {
      return null;
    }
    for (const item of entry.changes) {
      // `value` may hold anything, but must be there.
      if (
        !isRecord(item) || !isIdentifier(item.field, WHATSAPP_FIELD_MAX_CHARS) ||
        !('value' in item)
      ) return null;
    }
  }
  return body as Notification;
}

/** A `messages` change's value as the value schema's output when it passes, else null. */
export function checkedMessagesValue(fields: unknown): MessagesValue | null {
  if (!isRecord(fields) || !isOptionalString(fields.messaging_product)) return null;
  const metadata = fields.metadata;
  if (
    metadata !== undefined &&
    !(isRecord(metadata) &&
      (metadata.phone_number_id === undefined ||
        isIdentifier(metadata.phone_number_id, WHATSAPP_PHONE_NUMBER_ID_MAX_CHARS)) &&
      isOptionalString(metadata.display_phone_number))
  ) return null;
  const valid = isOptionalListOf(fields.contacts, (c) => isOptionalString(c.wa_id)) &&
    isOptionalListOf(fields.messages, (m) =>
      isIdentifier(m.id, WHATSAPP_MESSAGE_ID_MAX_CHARS) &&
      isIdentifier(m.from, WHATSAPP_SENDER_MAX_CHARS) &&
      isOptionalString(m.timestamp) && isOptionalString(m.type)) &&
    isOptionalListOf(fields.statuses, (st) =>
      isIdentifier(st.id, WHATSAPP_STATUS_ID_MAX_CHARS) &&
      isIdentifier(st.status, WHATSAPP_STATUS_MAX_CHARS) &&
      isOptionalString(st.timestamp) && isOptionalString(st.recipient_id));
  return valid ? fields as MessagesValue : null;
}

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
export function extractWhatsAppEvents(body: unknown): WhatsAppDelivery {
  const parsed = checkedNotification(body) ??
    parseOrRefuse(notification, body, 'not a WhatsApp Business notification');
  const events: IntakeEvent[] = [];
  const numbers = new Set<string>();
  for (const [e, entry] of parsed.entry.entries()) {
    for (const [c, item] of entry.changes.entries()) {
      if (item.field !== 'messages') {
        events.push(changeEvent(item));
        continue;
      }
      const fields = checkedMessagesValue(item.value) ?? parseOrRefuse(
        value,
        item.value,
        'malformed messages change',
        `entry[${e}].changes[${c}].value`,
      );
      const { metadata, contacts = [], messages = [], statuses = [] } = fields;
      if (metadata?.phone_number_id) numbers.add(metadata.phone_number_id);
      if (messages.length === 0 && statuses.length === 0) {
        events.push(changeEvent(item));
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

/**
 * A change stored as it came, keyed by its field and a hash of its content. The schema's
 * copy is what is hashed and stored (its key order), whichever check let the change in, so
 * a redelivered change keeps its key.
 */
function changeEvent(checked: Change): IntakeEvent {
  const item = change.parse(checked);
  return {
    key: `${item.field}:${sha256Hex(JSON.stringify(item))}`,
    type: item.field,
    kind: 'whatsapp.change',
    sender: null,
    payload: item,
  };
}
