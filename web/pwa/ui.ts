import { ApiError, fieldErrors } from '../shared/api.ts';
import { type Child, h, mount, when } from '../shared/dom.ts';
import { type Fetched, type Page } from './api.ts';
import type { AppContext } from './context.ts';

/** A refusal or failure in words a rider understands. */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) return (error as Error)?.message ?? String(error);
  switch (error.status) {
    case 0:
      if (error.title === 'Timed out') {
        return 'The server did not answer in time. Try again: nothing is done twice.';
      }
      return navigator.onLine
        ? 'The server could not be reached. Check your connection and try again.'
        : 'You are offline. Try again when you are back online.';
    case 429:
      return 'Too many requests: wait a minute and try again.';
    case 503:
      return 'The service is busy. Try again in a moment.';
    default: {
      const fields = fieldErrors(error);
      if (fields.length > 0) {
        return fields.map((field) => `${field.path || 'request'}: ${field.message}`).join('; ');
      }
      return error.detail ? `${error.title}: ${error.detail}` : error.title;
    }
  }
}

/** "Offline — showing data from <time>", when an answer is the kept copy. */
export function staleNotice(stale: Fetched<unknown>['stale']): HTMLElement | null {
  if (!stale) return null;
  const time = stale.at ? when(stale.at.toISOString()) : 'earlier';
  const lead = {
    offline: 'Offline',
    timeout: 'Slow connection',
    error: 'The server is not answering',
  }[stale.reason];
  return h('p', { class: 'stale', role: 'status' }, `${lead} — showing data from ${time}.`);
}

/** A failure with a way to try again; a 401 signs the user out instead. */
export function errorBox(ctx: AppContext, error: unknown, retry: () => void): HTMLElement {
  if (error instanceof ApiError && error.status === 401) {
    queueMicrotask(() => ctx.signedOut('Your session has ended: sign in again.'));
    return h('p', null);
  }
  return h(
    'div',
    { class: 'error', role: 'alert' },
    h('p', null, describeError(error)),
    h('button', { type: 'button', class: 'secondary', onclick: retry }, 'Try again'),
  );
}

export function loading(what: string): HTMLElement {
  return h('p', { class: 'loading', role: 'status' }, `Loading ${what}…`);
}

export interface PagedListOptions<T> {
  /** The collection's path, e.g. `/rides`. */
  readonly path: string;
  /** The list's accessible name, e.g. "Your rides". */
  readonly label: string;
  /** What is loading, e.g. "your rides". */
  readonly noun: string;
  readonly item: (item: T) => HTMLLIElement;
  readonly empty: Child;
}

/**
 * A list read page by page (`{items, next_cursor}`) into `container`: loading, empty, error
 * and stale states, and a "Load more" button while there are more pages.
 */
export function pagedList<T>(
  ctx: AppContext,
  container: HTMLElement,
  options: PagedListOptions<T>,
): { reload(quiet?: boolean): Promise<void>; stop(): void } {
  const controller = new AbortController();
  const list = h('ul', { class: 'items', 'aria-label': options.label });
  let generation = 0;

  async function read(cursor: string | null) {
    const query = new URLSearchParams({ limit: '20' });
    if (cursor) query.set('cursor', cursor);
    return await ctx.api.get<Page<T>>(`${options.path}?${query}`, controller.signal);
  }

  function more(cursor: string | null): HTMLElement | null {
    if (!cursor) return null;
    const button = h('button', {
      type: 'button',
      class: 'secondary more',
      onclick: async () => {
        button.disabled = true;
        button.textContent = 'Loading…';
        try {
          const page = await read(cursor);
          const first = page.data.items.map(options.item);
          list.append(...first);
          const next = more(page.data.next_cursor);
          if (next) button.replaceWith(next);
          else button.remove();
          // Focus the first new item (each is focusable), so the reader carries on there.
          first[0]?.focus();
        } catch (error) {
          if (controller.signal.aborted) return;
          button.disabled = false;
          button.textContent = 'Load more';
          button.after(errorBox(ctx, error, () => button.click()));
        }
      },
    }, 'Load more');
    return button;
  }

  async function reload(quiet = false): Promise<void> {
    const mine = ++generation;
    if (!quiet) {
      container.setAttribute('aria-busy', 'true');
      mount(container, loading(options.noun));
    }
    try {
      const page = await read(null);
      if (mine !== generation) return;
      mount(list, page.data.items.map(options.item));
      mount(
        container,
        staleNotice(page.stale),
        page.data.items.length > 0 ? list : h('p', { class: 'empty' }, options.empty),
        more(page.data.next_cursor),
      );
    } catch (error) {
      if (controller.signal.aborted || mine !== generation) return;
      // A quiet refresh that fails leaves what is shown as it is.
      if (!quiet) mount(container, errorBox(ctx, error, () => reload()));
    } finally {
      if (mine === generation) container.removeAttribute('aria-busy');
    }
  }

  return { reload, stop: () => controller.abort() };
}

/** A labelled input with its hint and error slot; the input is `field.input`. */
export function field(
  label: string,
  input: HTMLInputElement,
  hint?: string,
): { wrap: HTMLElement; input: HTMLInputElement } {
  const hintId = hint ? `${input.id}-hint` : null;
  if (hintId) input.setAttribute('aria-describedby', hintId);
  return {
    input,
    wrap: h(
      'div',
      { class: 'field' },
      h('label', { for: input.id }, label),
      hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
      input,
    ),
  };
}

/**
 * Submitting a form: the button is disabled while it runs, the error goes to `error`
 * (`role=alert`) and focus to the first field the API refused (by the `name` in `fields`).
 */
export function submitting(
  form: HTMLFormElement,
  error: HTMLElement,
  run: () => Promise<void>,
  fields: Record<string, HTMLInputElement> = {},
): void {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector<HTMLButtonElement>('button[type=submit]');
    if (button?.disabled) return;
    if (button) button.disabled = true;
    error.textContent = '';
    for (const input of Object.values(fields)) input.removeAttribute('aria-invalid');
    let focus: HTMLElement | null = null;
    try {
      await run();
    } catch (reason) {
      error.textContent = describeError(reason);
      const refused = fieldErrors(reason)
        .map((item) => fields[item.path.split('.')[0] ?? ''])
        .filter((input): input is HTMLInputElement => Boolean(input));
      for (const input of refused) input.setAttribute('aria-invalid', 'true');
      focus = refused[0] ?? form.querySelector<HTMLElement>('[aria-invalid="true"]') ?? button;
    } finally {
      if (button) button.disabled = false;
    }
    focus?.focus();
  });
}

/** An amount in cents as money: `KES 1,200.00`. */
export function money(cents: number | null, currency: string | null): string | null {
  if (cents === null) return null;
  const amount = cents / 100;
  if (!currency) return amount.toLocaleString(undefined, { minimumFractionDigits: 2 });
  try {
    return amount.toLocaleString(undefined, { style: 'currency', currency });
  } catch {
    return `${currency} ${amount.toFixed(2)}`;
  }
}
