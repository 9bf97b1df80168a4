import type { InboundEvent } from '../../_shared/jobs/inbound.ts';

/** What a WhatsApp user sent, as the bot reads it. */
export type Incoming =
  | { readonly kind: 'text'; readonly text: string }
  /** A row picked from a list, or a reply button pressed: its id. */
  | { readonly kind: 'choice'; readonly id: string; readonly title: string }
  | {
    readonly kind: 'location';
    readonly latitude: number;
    readonly longitude: number;
    /** What to call it: the place's name or address, else the coordinates. */
    readonly label: string;
  }
  | { readonly kind: 'image'; readonly mediaId: string; readonly caption: string | null }
  | { readonly kind: 'other'; readonly type: string };

export interface IncomingMessage {
  /** The message's `wamid`: replies thread under it. */
  readonly id: string;
  /** The sender's number as Meta gives it (digits, no `+`). */
  readonly from: string;
  /** The sender's WhatsApp profile name, when Meta sent one. */
  readonly name: string | null;
  readonly content: Incoming;
}

type Raw = Record<string, unknown>;
const text = (value: unknown, max: number) =>
  typeof value === 'string' ? value.trim().slice(0, max) : '';

/**
 * The stored `whatsapp.message` event read as a message (the payload intake stored:
 * `{message, contact, metadata}` in Meta's shapes). Null when it has no sender or id.
 */
export function readIncoming(event: InboundEvent): IncomingMessage | null {
  const payload = (event.payload ?? {}) as { message?: Raw; contact?: Raw | null };
  const message = payload.message;
  if (!message || typeof message.from !== 'string' || typeof message.id !== 'string') {
    return null;
  }
  const profile = payload.contact?.profile as Raw | undefined;
  return {
    id: message.id,
    from: message.from,
    name: text(profile?.name, 100) || null,
    content: contentOf(message),
  };
}

function contentOf(message: Raw): Incoming {
  const type = typeof message.type === 'string' ? message.type : 'unknown';
  switch (type) {
    case 'text':
      return { kind: 'text', text: text((message.text as Raw | undefined)?.body, 1_000) };
    case 'interactive': {
      const interactive = (message.interactive ?? {}) as Raw;
      const reply = (interactive.list_reply ?? interactive.button_reply) as Raw | undefined;
      if (reply && typeof reply.id === 'string') {
        return { kind: 'choice', id: reply.id.slice(0, 256), title: text(reply.title, 100) };
      }
      return { kind: 'other', type };
    }
    case 'button': {
      // A template's quick-reply button: its payload is the id.
      const button = (message.button ?? {}) as Raw;
      if (typeof button.payload === 'string') {
        return { kind: 'choice', id: button.payload.slice(0, 256), title: text(button.text, 100) };
      }
      return { kind: 'other', type };
    }
    case 'location': {
      const location = (message.location ?? {}) as Raw;
      const latitude = Number(location.latitude);
      const longitude = Number(location.longitude);
      if (
        !Number.isFinite(latitude) || !Number.isFinite(longitude) || Math.abs(latitude) > 90 ||
        Math.abs(longitude) > 180
      ) {
        return { kind: 'other', type };
      }
      const named = [text(location.name, 80), text(location.address, 100)].filter(Boolean);
      return {
        kind: 'location',
        latitude,
        longitude,
        label: named.length > 0
          ? named.join(', ')
          : `${latitude.toFixed(5)}, ${longitude.toFixed(5)}`,
      };
    }
    case 'image': {
      const image = (message.image ?? {}) as Raw;
      if (typeof image.id !== 'string') return { kind: 'other', type };
      return { kind: 'image', mediaId: image.id, caption: text(image.caption, 200) || null };
    }
    default:
      return { kind: 'other', type };
  }
}
