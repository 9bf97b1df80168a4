/** What `h` accepts as a child: nodes, text, nothing. Arrays are flattened. */
export type Child = Node | string | number | null | undefined | false | readonly Child[];

type Props = Record<string, unknown> & { class?: string; style?: never };

/**
 * Makes an element: `h('button', { type: 'button', onclick: save }, 'Save')`. Properties
 * starting with `on` become listeners; `aria-*`, `data-*` and other names with a dash, and
 * anything that is not a property of the element, become attributes; `false`/`null` omit.
 * Text is always text: nothing passed here is parsed as HTML.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value as EventListener);
    } else if (name === 'class') {
      element.className = String(value);
    } else if (name.includes('-') || !(name in element)) {
      element.setAttribute(name, value === true ? '' : String(value));
    } else {
      (element as unknown as Record<string, unknown>)[name] = value;
    }
  }
  append(element, children);
  return element;
}

function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces what `parent` holds with `children`. */
export function mount(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A date as the reader's locale writes it, to the second; '—' for none. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, {
    dateStyle: 'medium',
    timeStyle: 'medium',
  });
}

/** A number with at most `digits` decimals, grouped as the reader's locale groups. */
export function num(value: number | null | undefined, digits = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return value.toLocaleString(undefined, { maximumFractionDigits: digits });
}
