/**
 * Standard Webhooks: the id is the `webhook-id` header (e.g. msg_ and a 27-character KSUID); the
 * payload convention is {type, timestamp, data}, with a full-stop-delimited type. The limits are
 * the longest id and type stored, in characters of visible ASCII (see events/fields.ts), with room
 * to spare over what the provider sends.
 */
import { z } from 'zod';
import { identifier, parseOrRefuse } from '../events/fields.ts';
import { type IntakeEvent, MalformedPayloadError } from '../events/types.ts';

/** Longest `webhook-id` header stored (the event key), in characters. */
export const STANDARD_WEBHOOK_ID_MAX_CHARS = 255;
/** Longest payload `type` stored, in characters; absent is stored as `unknown`. */
export const STANDARD_EVENT_TYPE_MAX_CHARS = 128;

const standardEvent = z.looseObject({
  type: identifier(STANDARD_EVENT_TYPE_MAX_CHARS).optional(),
});
const webhookId = identifier(STANDARD_WEBHOOK_ID_MAX_CHARS);

export function extractStandardEvent(body: unknown, id: string): IntakeEvent {
  // The header was verified (it is signed) before anything here runs.
  const key = webhookId.safeParse(id);
  if (!key.success) {
    throw new MalformedPayloadError(`webhook-id header ${key.error.issues[0]?.message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new MalformedPayloadError('not a Standard Webhooks JSON object');
  }
  const event = parseOrRefuse(standardEvent, body, 'not a Standard Webhooks event');
  return {
    key: key.data,
    type: event.type ?? 'unknown',
    kind: 'standard.event',
    sender: null,
    payload: event,
  };
}
