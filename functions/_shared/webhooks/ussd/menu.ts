/**
 * USSD menus as data, answered by a pure function. Africa's Talking sends, on every step of
 * a session, `text`: everything the user typed so far joined by `*` (empty at the start).
 * There is no server-side session state: the answer is found by walking the menu from the
 * root with those inputs, so a retried callback gets the same answer, and any instance can
 * answer any step.
 *
 * A screen that continues the session is answered `CON <text>`, the last one `END <text>`.
 * An `end` screen may carry an action (e.g. a ride request): the route stores it durably
 * and enqueues it as a job before it answers.
 */

/** Longest screen (prefix included) that handsets are sure to show in full. */
export const USSD_SCREEN_MAX_CHARS = 182;

/** What an `end` screen asks the app to do; stored as an event and run as a job. */
export interface UssdAction {
  /** e.g. `ride_request`; the job kind is `ussd.<type>`. */
  readonly type: string;
  /** What the user entered along the way, by name. */
  readonly data: Readonly<Record<string, string>>;
}

export interface UssdMenuNode {
  readonly kind: 'menu';
  readonly prompt: string;
  readonly options: readonly UssdOption[];
}

export interface UssdOption {
  /** What the user types to choose it, e.g. `1`. */
  readonly key: string;
  readonly label: string;
  readonly next: UssdNode;
}

export interface UssdInputNode {
  readonly kind: 'input';
  readonly prompt: string;
  /** The screen after the user typed `value` (trimmed, never empty). */
  readonly next: (value: string) => UssdNode;
}

export interface UssdEndNode {
  readonly kind: 'end';
  readonly message: string;
  readonly action: UssdAction | null;
}

export type UssdNode = UssdMenuNode | UssdInputNode | UssdEndNode;

export interface UssdReply {
  /** `CON`: the session continues; `END`: the gateway closes it. */
  readonly kind: 'CON' | 'END';
  readonly text: string;
  readonly action: UssdAction | null;
}

export const menu = (prompt: string, options: readonly UssdOption[]): UssdMenuNode => ({
  kind: 'menu',
  prompt,
  options,
});

export const input = (prompt: string, next: (value: string) => UssdNode): UssdInputNode => ({
  kind: 'input',
  prompt,
  next,
});

export const end = (message: string, action: UssdAction | null = null): UssdEndNode => ({
  kind: 'end',
  message,
  action,
});

/** The inputs of a session so far: `''` → `[]`, `'1*Main St'` → `['1', 'Main St']`. */
export function ussdInputs(text: string): string[] {
  return text === '' ? [] : text.split('*');
}

/**
 * The answer to one step of a session: walks `root` with the inputs in `text`. An input
 * that is not an option of the current menu (or an empty answer to a question) leaves the
 * user where they were, with the screen repeated under a short notice; inputs after an
 * `end` screen are ignored.
 *
 * @example
 * ```ts
 * answerUssd(rideMenu, '');       // { kind: 'CON', text: 'Rides\n1. Request a ride\n...' }
 * answerUssd(rideMenu, '0');      // { kind: 'END', text: 'Goodbye.', action: null }
 * answerUssd(rideMenu, '1*Main St').action; // { type: 'ride_request', data: { pickup: 'Main St' } }
 * ```
 */
export function answerUssd(root: UssdNode, text: string): UssdReply {
  let node = root;
  let notice: string | null = null;
  for (const raw of ussdInputs(text)) {
    const value = raw.trim();
    if (node.kind === 'end') break;
    if (node.kind === 'menu') {
      const option = node.options.find((candidate) => candidate.key === value);
      if (option) node = option.next;
      notice = option ? null : 'Invalid choice.';
    } else if (value === '') {
      notice = 'Please type an answer.';
    } else {
      node = node.next(value);
      notice = null;
    }
  }
  if (node.kind === 'end') return { kind: 'END', text: node.message, action: node.action };
  const lines = [notice ? `${notice} ${node.prompt}` : node.prompt];
  if (node.kind === 'menu') {
    for (const option of node.options) lines.push(`${option.key}. ${option.label}`);
  }
  return { kind: 'CON', text: lines.join('\n'), action: null };
}

/** The response body Africa's Talking expects: `CON <text>` or `END <text>`. */
export function renderUssdReply(reply: UssdReply): string {
  return `${reply.kind} ${reply.text}`;
}

/** Shortens what a user typed before it is shown back on a small screen. */
export function excerpt(value: string, max = 40): string {
  const chars = Array.from(value);
  return chars.length <= max ? value : `${chars.slice(0, max - 1).join('')}…`;
}
