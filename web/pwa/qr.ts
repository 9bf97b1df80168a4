import { h, mount, when } from '../shared/dom.ts';
import { newKey, type Page, type QrCode } from './api.ts';
import type { View } from './context.ts';
import { errorBox, field, loading, money, staleNotice, submitting } from './ui.ts';

/** What the code dials: the USSD string as a `tel:` URI (`#` escaped). */
export function dialUri(ussd: string): string {
  return `tel:${ussd.replaceAll('#', '%23')}`;
}

/** My QR code: the newest payment code as an image others scan, and a form for a new one. */
export const qrView: View = (ctx, main) => {
  const controller = new AbortController();
  let objectUrl: string | null = null;
  const current = h('div', { class: 'qr-current' });
  const notice = h('p', { class: 'notice', role: 'status' });

  const show = (code: QrCode, image: string, stale: HTMLElement | null) => {
    const amount = money(code.amount_cents, code.currency);
    mount(
      current,
      stale,
      h(
        'figure',
        { class: 'qr card' },
        h('img', {
          src: image,
          width: 256,
          height: 256,
          alt: `QR code: scanning it dials ${code.payload}${amount ? ` to pay ${amount}` : ''}`,
        }),
        h(
          'figcaption',
          null,
          h('strong', null, code.payload),
          amount ? ` · ${amount}` : null,
          h('br'),
          'Made ',
          h('time', { datetime: code.created_at }, when(code.created_at)),
        ),
      ),
      h(
        'p',
        null,
        h('a', { href: dialUri(code.payload), class: 'button secondary' }, 'Dial it on this phone'),
      ),
    );
  };

  async function load(quiet = false): Promise<void> {
    if (!quiet) {
      current.setAttribute('aria-busy', 'true');
      mount(current, loading('your QR code'));
    }
    try {
      const page = await ctx.api.get<Page<QrCode>>('/qr-codes?limit=1', controller.signal);
      const code = page.data.items[0];
      if (!code) {
        mount(
          current,
          staleNotice(page.stale),
          h(
            'p',
            { class: 'empty' },
            'You have no payment QR code yet. Make one below: people scan it to pay you by USSD.',
          ),
        );
        return;
      }
      const image = await ctx.api.blob(
        `/qr-codes/${encodeURIComponent(code.id)}/image?format=svg`,
        controller.signal,
      );
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      objectUrl = URL.createObjectURL(image.data);
      show(code, objectUrl, staleNotice(page.stale ?? image.stale));
    } catch (error) {
      if (controller.signal.aborted || quiet) return;
      mount(current, errorBox(ctx, error, () => void load()));
    } finally {
      current.removeAttribute('aria-busy');
    }
  }

  const ussd = field(
    'USSD payment code',
    h('input', {
      id: 'qr-ussd',
      name: 'ussd',
      type: 'text',
      inputMode: 'tel',
      required: true,
      autocomplete: 'off',
      pattern: '\\*[0-9*]{1,180}#',
    }),
    'What payers dial: * then digits and *, ending in #, e.g. *334*1*123456#',
  );
  const amount = field(
    'Amount (optional)',
    h('input', {
      id: 'qr-amount',
      name: 'amount',
      type: 'number',
      min: '0.01',
      step: '0.01',
      inputMode: 'decimal',
    }),
  );
  const currency = field(
    'Currency (optional)',
    h('input', {
      id: 'qr-currency',
      name: 'currency',
      type: 'text',
      maxLength: 3,
      pattern: '[A-Za-z]{3}',
      autocapitalize: 'characters',
      autocomplete: 'off',
    }),
    'Three letters, e.g. KES',
  );
  const error = h('p', { class: 'form-error', role: 'alert', id: 'qr-error' });
  const form = h(
    'form',
    { class: 'card', 'aria-describedby': error.id },
    ussd.wrap,
    amount.wrap,
    currency.wrap,
    h('button', { type: 'submit', class: 'primary' }, 'Make QR code'),
    error,
  );
  let key: { key: string; for: string } | null = null;
  submitting(form, error, async () => {
    notice.textContent = '';
    const cents = amount.input.value ? Math.round(Number(amount.input.value) * 100) : undefined;
    const body = {
      ussd: ussd.input.value.trim(),
      amount_cents: cents,
      currency: currency.input.value.trim().toUpperCase() || undefined,
    };
    const fingerprint = JSON.stringify(body);
    if (key?.for !== fingerprint) key = { key: newKey(), for: fingerprint };
    await ctx.api.post<QrCode>('/qr-codes', body, key.key);
    key = null;
    form.reset();
    notice.textContent = 'Your new QR code is ready.';
    await load();
  }, { ussd: ussd.input, amount_cents: amount.input, currency: currency.input });

  main.append(
    h('h1', { tabindex: '-1' }, 'My QR code'),
    h('p', null, 'Show this code to be paid: scanning it dials your USSD payment code.'),
    notice,
    current,
    h('h2', null, 'Make a new code'),
    form,
  );
  void load();
  ctx.onRefresh(() => void load(true));
  return () => {
    controller.abort();
    if (objectUrl) URL.revokeObjectURL(objectUrl);
  };
};
