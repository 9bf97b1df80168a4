import { ApiError } from '../shared/api.ts';
import { type Child, h, mount } from '../shared/dom.ts';

/** A page's heading and, beside it, its controls. */
export function pageHead(title: string, ...controls: Child[]): HTMLElement {
  return h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, title), ...controls);
}

/** What a region shows while its data loads. */
export function loading(what: string): HTMLElement {
  return h(
    'p',
    { class: 'state loading', role: 'status', 'aria-live': 'polite' },
    `Loading ${what}…`,
  );
}

/** What a region shows when there is nothing to show, and why that may be fine. */
export function empty(message: string): HTMLElement {
  return h('p', { class: 'state empty' }, message);
}

/** Words for an error a person can act on. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 0) return 'The server could not be reached. Check that it is running.';
    if (error.status === 401) return 'Your session has ended. Sign in again.';
    if (error.status === 403) return `Your role may not do this. ${error.detail ?? ''}`.trim();
    if (error.status === 503) {
      return 'The server is briefly unavailable (its database may be busy or down). Retrying.';
    }
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** An error box with a retry button. */
export function failure(error: unknown, retry?: () => void): HTMLElement {
  return h(
    'div',
    { class: 'state error', role: 'alert' },
    h('p', null, describe(error)),
    retry ? h('button', { type: 'button', onclick: retry }, 'Try again') : null,
  );
}

/**
 * Loads into `region`: a loading line first, then `render`'s output, or an error with a
 * retry. Answers whether it succeeded.
 */
export async function load<T>(
  region: Element,
  what: string,
  fetcher: () => Promise<T>,
  render: (data: T) => Child,
  options: { quiet?: boolean } = {},
): Promise<boolean> {
  if (!options.quiet) mount(region, loading(what));
  region.setAttribute('aria-busy', 'true');
  try {
    const data = await fetcher();
    mount(region, render(data));
    return true;
  } catch (error) {
    mount(region, failure(error, () => void load(region, what, fetcher, render)));
    return false;
  } finally {
    region.removeAttribute('aria-busy');
  }
}

/** A table with a caption (read by screen readers; visible when `showCaption`). */
export function table(
  caption: string,
  headings: readonly string[],
  rows: readonly (readonly Child[])[],
  showCaption = false,
): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      null,
      h('caption', { class: showCaption ? '' : 'visually-hidden' }, caption),
      h('thead', null, h('tr', null, headings.map((text) => h('th', { scope: 'col' }, text)))),
      h(
        'tbody',
        null,
        rows.map((cells) => h('tr', null, cells.map((cell) => h('td', null, cell)))),
      ),
    ),
  );
}

/** A status word with its colour, never colour alone. */
export function badge(status: string): HTMLElement {
  return h(
    'span',
    { class: `badge badge-${status.replace(/[^a-z_]/g, '')}` },
    status.replace('_', ' '),
  );
}

const announcer = () => document.getElementById('announce');

/** Says `message` to screen readers and shows it briefly. */
export function announce(message: string, kind: 'ok' | 'error' = 'ok'): void {
  const region = announcer();
  if (!region) return;
  mount(region, h('p', { class: `toast toast-${kind}` }, message));
  setTimeout(() => {
    if (region.textContent === message) mount(region);
  }, 6_000);
}

/**
 * Asks before an action, in a modal `<dialog>` (focus moves into it and comes back):
 * answers true when the person confirms.
 */
export function confirmAction(title: string, body: string, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const opener = document.activeElement as HTMLElement | null;
    const dialog = h(
      'dialog',
      { class: 'confirm', 'aria-labelledby': 'confirm-title' },
      h('h2', { id: 'confirm-title' }, title),
      h('p', null, body),
      h(
        'form',
        { method: 'dialog', class: 'actions' },
        h('button', { value: 'cancel', type: 'submit', class: 'secondary' }, 'Cancel'),
        h('button', { value: 'ok', type: 'submit', class: 'primary' }, confirmLabel),
      ),
    );
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok');
      dialog.remove();
      opener?.focus();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}

/** An ISO time `ms` ago. */
export function ago(ms: number): string {
  return new Date(Date.now() - ms).toISOString();
}

/** Pretty JSON, for the payload viewers. */
export function jsonBlock(value: unknown, label: string): HTMLElement {
  return h(
    'pre',
    { class: 'json', tabindex: '0', 'aria-label': label },
    JSON.stringify(value, null, 2),
  );
}
