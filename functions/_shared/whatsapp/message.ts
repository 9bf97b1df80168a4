/**
 * Cloud API message bodies: what the client sends for each kind of message, checked against
 * Meta's limits before anything goes out.
 */

/** Meta's limits on message parts (Cloud API reference, "messages"). */
export const WHATSAPP_LIMITS = {
  textBody: 4_096,
  interactiveBody: 1_024,
  headerText: 60,
  footerText: 60,
  listButton: 20,
  listSections: 10,
  listRows: 10,
  rowId: 200,
  rowTitle: 24,
  rowDescription: 72,
  sectionTitle: 24,
  replyButtons: 3,
  buttonId: 256,
  buttonTitle: 20,
} as const;

export interface ListRow {
  readonly id: string;
  readonly title: string;
  readonly description?: string;
}

export type OutboundMessage =
  | { readonly type: 'text'; readonly text: string; readonly previewUrl?: boolean }
  | {
    readonly type: 'list';
    readonly header?: string;
    readonly body: string;
    readonly footer?: string;
    /** The button that opens the list. */
    readonly button: string;
    readonly sections: readonly { readonly title?: string; readonly rows: readonly ListRow[] }[];
  }
  | {
    readonly type: 'buttons';
    readonly header?: string;
    readonly body: string;
    readonly footer?: string;
    readonly buttons: readonly { readonly id: string; readonly title: string }[];
  };

export interface SendOptions {
  /** The `wamid` of the message this one answers: shown threaded under it. */
  readonly replyTo?: string;
}

/** The Cloud API request body for `message` to `to`. Throws a TypeError past Meta's limits. */
export function messageBody(
  to: string,
  message: OutboundMessage,
  options: SendOptions = {},
): Record<string, unknown> {
  const envelope: Record<string, unknown> = {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to,
  };
  if (options.replyTo) envelope.context = { message_id: options.replyTo };
  const L = WHATSAPP_LIMITS;
  switch (message.type) {
    case 'text':
      limit('text', message.text, L.textBody);
      return {
        ...envelope,
        type: 'text',
        text: { body: message.text, preview_url: message.previewUrl ?? false },
      };
    case 'list': {
      const rows = message.sections.flatMap((section) => section.rows);
      if (message.sections.length < 1 || message.sections.length > L.listSections) {
        throw new TypeError(`a list has 1 to ${L.listSections} sections`);
      }
      if (rows.length < 1 || rows.length > L.listRows) {
        throw new TypeError(`a list has 1 to ${L.listRows} rows in all`);
      }
      limit('button', message.button, L.listButton);
      for (const section of message.sections) {
        if (section.title !== undefined) limit('section title', section.title, L.sectionTitle);
        if (message.sections.length > 1 && !section.title) {
          throw new TypeError('every section of a list with several has a title');
        }
      }
      for (const row of rows) {
        limit('row id', row.id, L.rowId);
        limit('row title', row.title, L.rowTitle);
        if (row.description !== undefined) {
          limit('row description', row.description, L.rowDescription);
        }
      }
      return {
        ...envelope,
        type: 'interactive',
        interactive: {
          type: 'list',
          ...interactiveText(message),
          action: {
            button: message.button,
            sections: message.sections.map((section) => ({
              ...(section.title ? { title: section.title } : {}),
              rows: section.rows.map((row) => ({
                id: row.id,
                title: row.title,
                ...(row.description ? { description: row.description } : {}),
              })),
            })),
          },
        },
      };
    }
    case 'buttons':
      if (message.buttons.length < 1 || message.buttons.length > L.replyButtons) {
        throw new TypeError(`reply buttons number 1 to ${L.replyButtons}`);
      }
      for (const button of message.buttons) {
        limit('button id', button.id, L.buttonId);
        limit('button title', button.title, L.buttonTitle);
      }
      return {
        ...envelope,
        type: 'interactive',
        interactive: {
          type: 'button',
          ...interactiveText(message),
          action: {
            buttons: message.buttons.map((button) => ({
              type: 'reply',
              reply: { id: button.id, title: button.title },
            })),
          },
        },
      };
  }
}

function interactiveText(message: { header?: string; body: string; footer?: string }) {
  limit('body', message.body, WHATSAPP_LIMITS.interactiveBody);
  if (message.header !== undefined) limit('header', message.header, WHATSAPP_LIMITS.headerText);
  if (message.footer !== undefined) limit('footer', message.footer, WHATSAPP_LIMITS.footerText);
  return {
    ...(message.header ? { header: { type: 'text', text: message.header } } : {}),
    body: { text: message.body },
    ...(message.footer ? { footer: { text: message.footer } } : {}),
  };
}

function limit(what: string, value: string, max: number): void {
  if (value.length === 0 || value.length > max) {
    throw new TypeError(`${what} must be 1 to ${max} characters (got ${value.length})`);
  }
}
