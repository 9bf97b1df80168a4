/** The extractors of the providers whose delivery is one event: Stripe, PayPal, Standard. */
import { describe, expect, it } from 'vitest';
import {
  extractPayPalEvent,
  PAYPAL_EVENT_ID_MAX_CHARS,
  PAYPAL_EVENT_TYPE_MAX_CHARS,
} from './paypal/extract.ts';
import {
  extractStandardEvent,
  STANDARD_EVENT_TYPE_MAX_CHARS,
  STANDARD_WEBHOOK_ID_MAX_CHARS,
} from './standard/extract.ts';
import {
  extractStripeEvent,
  STRIPE_EVENT_ID_MAX_CHARS,
  STRIPE_EVENT_TYPE_MAX_CHARS,
} from './stripe/extract.ts';
import { type IntakeEvent, MalformedPayloadError } from './events/types.ts';

function refusal(extract: () => unknown): string {
  try {
    extract();
  } catch (error) {
    if (error instanceof MalformedPayloadError) return error.message;
    throw error;
  }
  throw new Error('expected the event to be refused');
}

/** Each provider as (id, type) → event, with where each value sits and its limits. */
const providers: {
  name: string;
  extract: (id: string, type: string) => IntakeEvent;
  what: string;
  idField: string;
  typeField: string;
  idMax: number;
  typeMax: number;
}[] = [
  {
    name: 'Stripe',
    extract: (id, type) => extractStripeEvent({ id, type, object: 'event' }),
    what: 'not a Stripe event: ',
    idField: 'id',
    typeField: 'type',
    idMax: STRIPE_EVENT_ID_MAX_CHARS,
    typeMax: STRIPE_EVENT_TYPE_MAX_CHARS,
  },
  {
    name: 'PayPal',
    extract: (id, type) => extractPayPalEvent({ id, event_type: type }),
    what: 'not a PayPal event: ',
    idField: 'id',
    typeField: 'event_type',
    idMax: PAYPAL_EVENT_ID_MAX_CHARS,
    typeMax: PAYPAL_EVENT_TYPE_MAX_CHARS,
  },
  {
    name: 'Standard Webhooks',
    extract: (id, type) => extractStandardEvent({ type, data: {} }, id),
    what: '',
    idField: 'webhook-id header',
    typeField: 'not a Standard Webhooks event: type',
    idMax: STANDARD_WEBHOOK_ID_MAX_CHARS,
    typeMax: STANDARD_EVENT_TYPE_MAX_CHARS,
  },
];

describe.each(providers)('$name events', (provider) => {
  const { extract, idMax, typeMax } = provider;
  const idField = `${provider.what}${provider.idField}`;
  const typeField = provider.what ? `${provider.what}${provider.typeField}` : provider.typeField;

  it('are keyed by their id, up to the limits', () => {
    const id = 'i'.repeat(idMax);
    const type = 't'.repeat(typeMax);
    expect(extract(id, type)).toMatchObject({ key: id, type });
    expect(extract('evt_1NG8Du2eZvKYlo2CUI79vXWy', 'a.b')).toMatchObject({ type: 'a.b' });
  });

  it('refuse an id or a type over its limit, or outside visible ASCII, naming it', () => {
    expect(refusal(() => extract('i'.repeat(idMax + 1), 'a.b'))).toBe(
      `${idField} must be at most ${idMax} characters`,
    );
    expect(refusal(() => extract('id', 't'.repeat(typeMax + 1)))).toBe(
      `${typeField} must be at most ${typeMax} characters`,
    );
    expect(refusal(() => extract('', 'a.b'))).toBe(`${idField} must not be empty`);
    for (const bad of ['evt 1', 'evt\u00001', 'évt', 'evt\n']) {
      expect(refusal(() => extract(bad, 'a.b'))).toBe(
        `${idField} must be visible ASCII (no spaces or control characters)`,
      );
      expect(refusal(() => extract('id', bad))).toBe(
        `${typeField} must be visible ASCII (no spaces or control characters)`,
      );
    }
  });
});

describe('extractStandardEvent', () => {
  it('stores a payload without a type as `unknown`, and refuses one that is not an object', () => {
    expect(extractStandardEvent({ data: {} }, 'msg_1').type).toBe('unknown');
    expect(refusal(() => extractStandardEvent([], 'msg_1'))).toBe(
      'not a Standard Webhooks JSON object',
    );
    expect(refusal(() => extractStandardEvent({ type: 7 }, 'msg_1'))).toMatch(
      /^not a Standard Webhooks event: type /,
    );
  });
});

describe('extractStripeEvent', () => {
  it('names a missing field', () => {
    expect(refusal(() => extractStripeEvent({ type: 'a.b' }))).toMatch(
      /^not a Stripe event: id /,
    );
    expect(refusal(() => extractStripeEvent(null))).toMatch(/^not a Stripe event: body /);
  });
});
