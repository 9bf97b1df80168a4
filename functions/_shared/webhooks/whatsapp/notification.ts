/** One text message in a WhatsApp notification. */
export interface WhatsAppTextMessage {
  readonly id: string;
  readonly from: string;
  readonly text?: string;
}

/**
 * A WhatsApp Cloud API notification as Meta sends it: one `messages` change carrying the
 * given text messages (each with its contact) and statuses. For whoever plays Meta:
 * `gatehouse send whatsapp`, the tests, the benchmarks.
 *
 * @example
 * ```ts
 * const body = whatsappNotification([{ id: 'wamid.1', from: '15551230000' }]);
 * await app.request('/webhooks/whatsapp', { method: 'POST', body, headers: {
 *   'content-type': 'application/json', ...signWhatsApp(body, secret) } });
 * ```
 */
export function whatsappNotification(
  messages: readonly WhatsAppTextMessage[],
  options: {
    statuses?: readonly { id: string; status: string }[];
    phoneNumberId?: string;
  } = {},
): string {
  return whatsappDelivery({
    phoneNumberId: options.phoneNumberId,
    contacts: messages.map((m) => ({ wa_id: m.from, profile: { name: 'Ada' } })),
    messages: messages.map((m) => ({
      id: m.id,
      from: m.from,
      timestamp: '1700000000',
      type: 'text',
      text: { body: m.text ?? 'hello' },
    })),
    statuses: (options.statuses ?? []).map((s) => ({
      ...s,
      timestamp: '1700000001',
      recipient_id: '1555',
    })),
  });
}

/**
 * A WhatsApp Cloud API notification as Meta sends it, with the `contacts`, `messages` and
 * `statuses` given as Meta's objects (any message type: interactive replies, locations,
 * images), under one `messages` change of the phone number `phoneNumberId`.
 *
 * @example
 * ```ts
 * const body = whatsappDelivery({
 *   contacts: [{ wa_id: '254700000001', profile: { name: 'Ada' } }],
 *   messages: [{ id: 'wamid.1', from: '254700000001', timestamp: '1700000000',
 *     type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'menu', title: 'Menu' } } }],
 * });
 * ```
 */
export function whatsappDelivery(parts: {
  phoneNumberId?: string;
  contacts?: readonly Record<string, unknown>[];
  messages?: readonly Record<string, unknown>[];
  statuses?: readonly Record<string, unknown>[];
}): string {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{
      id: 'WABA-1',
      changes: [{
        field: 'messages',
        value: {
          messaging_product: 'whatsapp',
          metadata: {
            display_phone_number: '15550000000',
            phone_number_id: parts.phoneNumberId ?? 'PNID-1',
          },
          contacts: parts.contacts ?? [],
          messages: parts.messages ?? [],
          statuses: parts.statuses ?? [],
        },
      }],
    }],
  });
}
