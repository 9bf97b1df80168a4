import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { whatsappNotification } from './notification.ts';
import { MalformedPayloadError } from '../events/types.ts';
import {
  checkedMessagesValue,
  checkedNotification,
  extractWhatsAppEvents,
  WHATSAPP_FIELD_MAX_CHARS,
  WHATSAPP_MESSAGE_ID_MAX_CHARS,
  WHATSAPP_PHONE_NUMBER_ID_MAX_CHARS,
  WHATSAPP_SENDER_MAX_CHARS,
  WHATSAPP_STATUS_ID_MAX_CHARS,
  WHATSAPP_STATUS_MAX_CHARS,
  whatsappSchemas,
} from './extract.ts';

// A real wamid's shape: `wamid.` and base64 of a protobuf, about 60-100 characters.
const WAMID = 'wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQzQTdCNjBFRDY4QjlGNzM1RUNGMgA=';

const body = (
  messages: { id: string; from: string }[],
  statuses: { id: string; status: string }[] = [],
  phoneNumberId = 'PNID-1',
) => JSON.parse(whatsappNotification(messages, { statuses, phoneNumberId }));

const withChanges = (changes: unknown[]) => ({
  object: 'whatsapp_business_account',
  entry: [{ id: 'WABA-1', changes }],
});

async function refusal(input: unknown): Promise<string> {
  try {
    await extractWhatsAppEvents(input);
  } catch (error) {
    if (error instanceof MalformedPayloadError) return error.message;
    throw error;
  }
  throw new Error('expected the notification to be refused');
}

describe('extractWhatsAppEvents', () => {
  it('keys messages by wamid and statuses by id and status', async () => {
    const { events, phoneNumberIds } = await extractWhatsAppEvents(
      body([{ id: WAMID, from: '15551234567' }], [{ id: WAMID, status: 'read' }]),
    );
    expect(events.map(({ key, kind, sender }) => ({ key, kind, sender }))).toEqual([
      { key: WAMID, kind: 'whatsapp.message', sender: '15551234567' },
      { key: `${WAMID}:read`, kind: 'whatsapp.status', sender: null },
    ]);
    expect(phoneNumberIds).toEqual(['PNID-1']);
  });

  it('stores a change it does not model under <field>:<sha256>', async () => {
    const change = { field: 'account_update', value: { event: 'VERIFIED_ACCOUNT' } };
    const { events } = await extractWhatsAppEvents(withChanges([change]));
    expect(events).toHaveLength(1);
    expect(events[0]!.key).toMatch(/^account_update:[0-9a-f]{64}$/);
    expect(events[0]).toMatchObject({ type: 'account_update', payload: change });
  });

  it('stores a messages change with neither messages nor statuses whole (how Meta reports errors)', async () => {
    const change = {
      field: 'messages',
      value: { metadata: { phone_number_id: 'PNID-7' }, errors: [{ code: 131000 }] },
    };
    const { events, phoneNumberIds } = await extractWhatsAppEvents(withChanges([change]));
    expect(events.map((event) => event.kind)).toEqual(['whatsapp.change']);
    expect(events[0]!.key).toMatch(/^messages:[0-9a-f]{64}$/);
    expect(phoneNumberIds).toEqual(['PNID-7']);
  });

  it('accepts ids up to their limits', async () => {
    const id = 'w'.repeat(WHATSAPP_MESSAGE_ID_MAX_CHARS);
    const from = '1'.repeat(WHATSAPP_SENDER_MAX_CHARS);
    const { events } = await extractWhatsAppEvents(
      body(
        [{ id, from }],
        [{
          id: 's'.repeat(WHATSAPP_STATUS_ID_MAX_CHARS),
          status: 'x'.repeat(WHATSAPP_STATUS_MAX_CHARS),
        }],
        'p'.repeat(WHATSAPP_PHONE_NUMBER_ID_MAX_CHARS),
      ),
    );
    expect(events).toHaveLength(2);
  });

  it.each([
    [
      'a message id over its limit',
      body([{ id: 'w'.repeat(WHATSAPP_MESSAGE_ID_MAX_CHARS + 1), from: '1' }]),
      `entry[0].changes[0].value.messages[0].id must be at most ${WHATSAPP_MESSAGE_ID_MAX_CHARS} characters`,
    ],
    [
      'a message id with a space',
      body([{ id: 'wamid. x', from: '1' }]),
      'entry[0].changes[0].value.messages[0].id must be visible ASCII',
    ],
    [
      'a sender with a control character',
      body([{ id: WAMID, from: '1\u0000' }]),
      'entry[0].changes[0].value.messages[0].from must be visible ASCII',
    ],
    [
      'an empty status',
      body([], [{ id: WAMID, status: '' }]),
      'entry[0].changes[0].value.statuses[0].status must not be empty',
    ],
    [
      'a status id over its limit',
      body([], [{ id: 's'.repeat(WHATSAPP_STATUS_ID_MAX_CHARS + 1), status: 'read' }]),
      'entry[0].changes[0].value.statuses[0].id must be at most',
    ],
    [
      'a phone number id over its limit',
      body([{ id: WAMID, from: '1' }], [], 'p'.repeat(WHATSAPP_PHONE_NUMBER_ID_MAX_CHARS + 1)),
      'entry[0].changes[0].value.metadata.phone_number_id must be at most',
    ],
    [
      'a change field over its limit',
      withChanges([{ field: 'f'.repeat(WHATSAPP_FIELD_MAX_CHARS + 1), value: {} }]),
      'entry[0].changes[0].field must be at most',
    ],
    [
      'a change field with non-ASCII text',
      withChanges([{ field: 'mëssages', value: {} }]),
      'entry[0].changes[0].field must be visible ASCII',
    ],
  ])('refuses %s, naming the field', async (_name, input, detail) => {
    expect(await refusal(input)).toContain(detail);
  });

  it('refuses what is not a WhatsApp Business notification', async () => {
    expect(await refusal({ object: 'page', entry: [] })).toBe(
      'not a WhatsApp Business notification: object must be "whatsapp_business_account"',
    );
    expect(await refusal({ object: 'whatsapp_business_account', entry: [] })).toBe(
      'not a WhatsApp Business notification: entry must hold at least one entry',
    );
    expect(await refusal([])).toMatch(/^not a WhatsApp Business notification: body /);
  });

  it('refuses a notification that carries no change', async () => {
    expect(await refusal(withChanges([]))).toBe(
      'the WhatsApp notification carries no change to store',
    );
  });
});

describe('the hand-written checks of the common shape', () => {
  // Field values that pass and that break each rule: absent, empty, at and over a limit,
  // a space, a control or non-ASCII character, and other JSON types.
  const text = (max: number) =>
    fc.oneof(
      fc.constantFrom(undefined, '', ' ', 'a b', '\u0000', 'é', 0, null, [], {}, true),
      fc.constantFrom('1', 'x'.repeat(max), 'x'.repeat(max + 1)),
      fc.stringMatching(/^[\x21-\x7e]{1,12}$/),
    );
  const record = (fields: Record<string, fc.Arbitrary<unknown>>) =>
    fc.oneof(
      { weight: 8, arbitrary: fc.record(fields) },
      { weight: 1, arbitrary: fc.constantFrom(null, 'x', 1, [], [{}]) },
    ).map(dropUndefined);
  const list = (item: fc.Arbitrary<unknown>) =>
    fc.oneof(
      { weight: 8, arbitrary: fc.array(item, { maxLength: 3 }) },
      { weight: 1, arbitrary: fc.constantFrom(undefined, null, {}, 'x') },
    );
  const messagesValue = record({
    messaging_product: fc.constantFrom(undefined, 'whatsapp', 7),
    metadata: fc.oneof(
      fc.constant(undefined),
      record({
        phone_number_id: text(WHATSAPP_PHONE_NUMBER_ID_MAX_CHARS),
        display_phone_number: fc.constantFrom(undefined, '1555', 1555),
      }),
    ),
    contacts: list(record({ wa_id: fc.constantFrom(undefined, '1555', 1555, null) })),
    messages: list(record({
      id: text(WHATSAPP_MESSAGE_ID_MAX_CHARS),
      from: text(WHATSAPP_SENDER_MAX_CHARS),
      timestamp: fc.constantFrom(undefined, '1700000000', 1700000000),
      type: fc.constantFrom(undefined, 'text', null),
      text: fc.constantFrom(undefined, { body: 'hi' }),
    })),
    statuses: list(record({
      id: text(WHATSAPP_STATUS_ID_MAX_CHARS),
      status: text(WHATSAPP_STATUS_MAX_CHARS),
      timestamp: fc.constantFrom(undefined, '1700000001', 1),
      recipient_id: fc.constantFrom(undefined, '1555', false),
    })),
    errors: fc.constantFrom(undefined, [{ code: 131000 }]),
  });
  const change = record({
    field: fc.oneof(fc.constant('messages'), text(WHATSAPP_FIELD_MAX_CHARS)),
    value: fc.oneof(messagesValue, fc.constantFrom(undefined, null, 'x', { event: 'e' })),
  });
  const notification = record({
    object: fc.constantFrom('whatsapp_business_account', 'page', undefined),
    entry: fc.oneof(
      {
        weight: 8,
        arbitrary: fc.array(
          record({ id: fc.constantFrom(undefined, 'W', 1), changes: list(change) }),
          { maxLength: 2 },
        ),
      },
      { weight: 1, arbitrary: fc.constantFrom(undefined, [], {}) },
    ),
  });

  it.each(
    [
      ['a notification', notification, checkedNotification, whatsappSchemas.notification],
      [
        "a messages change's value",
        messagesValue,
        checkedMessagesValue,
        whatsappSchemas.messagesValue,
      ],
    ] as const,
  )(
    'pass %s exactly when the schema does, as the schema gives it',
    (_what, inputs, check, schema) => {
      fc.assert(
        fc.property(inputs, (input) => {
          const checked = check(input);
          const parsed = schema.safeParse(input);
          // Never more than the schema (a refused field would be stored), and never less (a
          // well-formed delivery would pay for the schema's copies after all).
          expect(checked !== null).toBe(parsed.success);
          if (checked !== null) expect(checked).toEqual(parsed.data);
        }),
        { numRuns: 3_000 },
      );
    },
  );

  it('key a change it does not model as before, in whatever order its fields came', async () => {
    // Redeliveries must keep their keys across versions: these are the keys Gatehouse has
    // always given this change (the hash of the schema's copy, `field` first).
    const expected =
      'account_update:6a090363572fe74e34a040faf48106505a6e6fda49c2edee29224ce0b84e8c0d';
    for (
      const change of [
        { field: 'account_update', value: { event: 'VERIFIED_ACCOUNT' }, extra: 1 },
        { value: { event: 'VERIFIED_ACCOUNT' }, extra: 1, field: 'account_update' },
      ]
    ) {
      const { events } = await extractWhatsAppEvents(withChanges([change]));
      expect(events[0]!.key).toBe(expected);
    }
  });
});

/** A record's fields without those left undefined (absent, as in parsed JSON). */
function dropUndefined(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}
