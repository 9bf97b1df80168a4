import { h, mount } from '../shared/dom.ts';
import type { ConsoleContext } from './context.ts';
import { empty, failure, loading } from './ui.ts';

export interface Filter {
  readonly name: string;
  readonly label: string;
  /** A choice among these ('' : any); a text field when absent. */
  readonly options?: readonly string[];
  readonly type?: 'text' | 'datetime-local';
}

/** A list the admin API pages: `{items, next_cursor}`. */
export interface Listing<T> {
  readonly what: string;
  readonly path: string;
  readonly filters: readonly Filter[];
  readonly render: (items: readonly T[]) => HTMLElement;
  readonly empty: string;
  /** The filters' current values, kept by `filterForm`. */
  values?: Record<string, string>;
}

/** The filters as a form; submitting it (or clearing it) reloads the list. */
export function filterForm<T>(listing: Listing<T>, reload: () => void): HTMLElement {
  listing.values ??= {};
  const fields = listing.filters.map((filter) => {
    const id = `filter-${filter.name}`;
    const control = filter.options
      ? h(
        'select',
        { id, name: filter.name },
        filter.options.map((option) => h('option', { value: option }, option || 'any')),
      )
      : h('input', { id, name: filter.name, type: filter.type ?? 'text', autocomplete: 'off' });
    return h('div', { class: 'field' }, h('label', { for: id }, filter.label), control);
  });
  const form: HTMLFormElement = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': `Filter ${listing.what}`,
      onsubmit: (event: Event) => {
        event.preventDefault();
        const values: Record<string, string> = {};
        for (const [name, value] of new FormData(form)) {
          if (typeof value === 'string' && value.trim()) values[name] = value.trim();
        }
        listing.values = values;
        reload();
      },
    },
    fields,
    h('button', { type: 'submit' }, 'Filter'),
  );
  return form;
}

/** A `datetime-local` value (the reader's time) as the API's ISO time. */
function apiValue(filter: Filter | undefined, value: string): string {
  return filter?.type === 'datetime-local' ? new Date(value).toISOString() : value;
}

/**
 * Loads the first page into `region`, with "Load more" while the API has a next page.
 * Refusals and outages show as an error with a retry; nothing found, as `empty`.
 */
export async function pager<T>(ctx: ConsoleContext, listing: Listing<T>, region: Element) {
  const items: T[] = [];
  const list = h('div');
  const more = h('div');
  const page = async (cursor: string | null) => {
    const query = new URLSearchParams({ limit: '50' });
    for (const [name, value] of Object.entries(listing.values ?? {})) {
      query.set(name, apiValue(listing.filters.find((f) => f.name === name), value));
    }
    if (cursor) query.set('cursor', cursor);
    return await ctx.admin<{ items: T[]; next_cursor: string | null }>(`${listing.path}?${query}`);
  };
  const show = (next: string | null) => {
    mount(list, items.length ? listing.render(items) : h('div', null, empty(listing.empty)));
    mount(
      more,
      next
        ? h('button', {
          type: 'button',
          onclick: async (event: Event) => {
            (event.target as HTMLButtonElement).disabled = true;
            try {
              const answer = await page(next);
              items.push(...answer.items);
              show(answer.next_cursor);
            } catch (error) {
              mount(more, failure(error, () => show(next)));
            }
          },
        }, 'Load more')
        : null,
    );
  };
  mount(region, loading(listing.what));
  region.setAttribute('aria-busy', 'true');
  try {
    const answer = await page(null);
    items.push(...answer.items);
    mount(region, list, more);
    show(answer.next_cursor);
  } catch (error) {
    mount(region, failure(error, () => void pager(ctx, listing, region)));
  } finally {
    region.removeAttribute('aria-busy');
  }
}
