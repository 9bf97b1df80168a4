/**
 * USSD menus as data, answered by a pure function. Africa's Talking sends, on every step of
 * a session, `text`: everything the user typed so far joined by `*` (empty at the start).
 * There is no server-side session state: the answer is found by walking the menu from the
 * root with those inputs, so a retried callback gets the same answer, and any instance can
 * answer any step.
 *
 * A screen that continues the session is answered `CON <text>`, the last one `END <text>`.
 * An `end` screen may carry an action (e.g. a ride request): the route stores it durably
 * and enqueues it as a job before it answers. A `dynamic` screen is built when reached, from
 * the session (the caller's number, a database to read), e.g. the caller's rides.
 *
 * Navigation: `0` goes back one screen (where the screen has no option `0` of its own),
 * `00` goes home to the root; both work at questions too.
 */
import type { Queryable } from '../../db/types.ts';

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

/** A screen built when the session reaches it (it may read the database). */
export interface UssdDynamicNode {
  readonly kind: 'dynamic';
  readonly load: (session: UssdSession) => Promise<UssdNode>;
}

export type UssdNode = UssdMenuNode | UssdInputNode | UssdEndNode | UssdDynamicNode;

/** Who is in the session, for dynamic screens. */
export interface UssdSession {
  /** The caller's number as the gateway sends it (`+254711000001`). */
  readonly phoneNumber: string;
  readonly sessionId: string;
  readonly serviceCode: string;
  /** Reads for dynamic screens, bounded by the route's deadline. */
  readonly db: Queryable;
}

/** Goes back one screen. */
export const USSD_BACK = '0';
/** Goes home to the root screen. */
export const USSD_HOME = '00';

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

export const dynamic = (load: (session: UssdSession) => Promise<UssdNode>): UssdDynamicNode => ({
  kind: 'dynamic',
  load,
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
 * The answer to one step of a session: walks `root` with the inputs in `text`, building
 * dynamic screens from `session` as they are reached. An input that is not an option of
 * the current menu (or an empty answer to a question) leaves the user where they were, with
 * the screen repeated under a short notice; `0` goes back a screen (unless the menu has an
 * option `0`), `00` home; inputs after an `end` screen are ignored. Screens below the root
 * show how to go back and home.
 *
 * @example
 * ```ts
 * await answerUssd(rideMenu, '');       // { kind: 'CON', text: 'Rides\n1. Request a ride\n...' }
 * await answerUssd(rideMenu, '0');      // { kind: 'END', text: 'Goodbye.', action: null }
 * (await answerUssd(rideMenu, '1*Main St')).action; // { type: 'ride_request', data: { pickup: 'Main St' } }
 * ```
 */
export async function answerUssd(
  root: UssdNode,
  text: string,
  session?: UssdSession,
): Promise<UssdReply> {
  const resolve = async (node: UssdNode): Promise<Exclude<UssdNode, UssdDynamicNode>> => {
    let current = node;
    while (current.kind === 'dynamic') {
      if (!session) throw new Error('a dynamic USSD screen needs the session');
      current = await current.load(session);
    }
    return current;
  };
  const home = await resolve(root);
  let node = home;
  const path: Exclude<UssdNode, UssdDynamicNode>[] = [];
  let notice: string | null = null;
  for (const raw of ussdInputs(text)) {
    const value = raw.trim();
    if (node.kind === 'end') break;
    if (value === USSD_HOME) {
      node = home;
      path.length = 0;
      notice = null;
      continue;
    }
    const ownZero = node.kind === 'menu' && node.options.some((o) => o.key === USSD_BACK);
    if (value === USSD_BACK && !ownZero) {
      node = path.pop() ?? node; // at the root there is nowhere further back
      notice = null;
      continue;
    }
    if (node.kind === 'menu') {
      const option = node.options.find((candidate) => candidate.key === value);
      if (option) {
        path.push(node);
        node = await resolve(option.next);
      }
      notice = option ? null : 'Invalid choice.';
    } else if (value === '') {
      notice = 'Please type an answer.';
    } else {
      path.push(node);
      node = await resolve(node.next(value));
      notice = null;
    }
  }
  if (node.kind === 'end') return { kind: 'END', text: node.message, action: node.action };
  const lines = [notice ? `${notice} ${node.prompt}` : node.prompt];
  if (node.kind === 'menu') {
    for (const option of node.options) lines.push(`${option.key}. ${option.label}`);
  }
  if (path.length > 0) lines.push(`${USSD_BACK}. Back  ${USSD_HOME}. Home`);
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
