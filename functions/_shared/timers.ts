/**
 * Timers for work that runs by the thousand.
 *
 * {@link deadlineAfter} serves every deadline of one length with one timer instead of a
 * timer each (a statement, a delivery waiting for its commit). A `setTimeout` and its
 * `clearTimeout` cost a few microseconds and an object for the collector under Deno (its
 * Node-compatible timers): on the intake path, where every delivery had one, about a tenth
 * of the server's CPU per delivery. Deadlines of one length end in the order they began, so
 * they wait in a line (a linked list) and one timer is set for the oldest. A cancelled one
 * leaves the line at once, so it is garbage while still young; when cancelled ones waited
 * for their turn at the front, each lived the whole deadline length (a second for a drained
 * refusal), long enough under load to outlive two young collections and be moved to the
 * old generation. The timer does not keep the process alive (the work a
 * deadline bounds does that), and it is left to run out when the line empties, so steady
 * work sets it about once per deadline length, not once per deadline.
 */

/** Lets the process exit while `timer` is pending (Deno's timer ids and Node's Timeouts). */
export function unrefTimer(timer: ReturnType<typeof setTimeout>): void {
  const deno = (globalThis as { Deno?: { unrefTimer(id: number): void } }).Deno;
  if (deno && typeof timer === 'number') deno.unrefTimer(timer);
  else (timer as { unref?: () => void }).unref?.();
}

/** A deadline that has not passed yet: `cancel` once the work settles. */
export interface Deadline {
  cancel(): void;
}

/** A deadline waiting in its line: a doubly linked list in the order they began. */
interface Entry {
  readonly at: number;
  expire: (() => void) | null;
  prev: Entry | null;
  next: Entry | null;
}

interface Line {
  readonly ms: number;
  first: Entry | null;
  last: Entry | null;
  timer: ReturnType<typeof setTimeout> | null;
}

const lines = new Map<number, Line>();
const now = () => performance.now();

function unlink(line: Line, entry: Entry): void {
  if (entry.prev === null) line.first = entry.next;
  else entry.prev.next = entry.next;
  if (entry.next === null) line.last = entry.prev;
  else entry.next.prev = entry.prev;
  entry.prev = null;
  entry.next = null;
}

function arm(line: Line): void {
  if (line.timer !== null || line.first === null) return;
  line.timer = setTimeout(() => fire(line), Math.max(0, line.first.at - now()));
  unrefTimer(line.timer);
}

function fire(line: Line): void {
  line.timer = null;
  const at = now();
  const due: (() => void)[] = [];
  while (line.first !== null && line.first.at <= at) {
    const entry = line.first;
    due.push(entry.expire!);
    entry.expire = null;
    unlink(line, entry);
  }
  if (line.first === null) lines.delete(line.ms);
  else arm(line);
  for (const expire of due) expire();
}

/**
 * Calls `expire` once `ms` milliseconds have passed, unless cancelled first; never early.
 * `ms` must be positive. Each length in use keeps a line until its timer finds it empty,
 * so lengths should come from settings, not be computed afresh for every call.
 *
 * @example
 * const deadline = deadlineAfter(3_000, () => reject(new Error('too slow')));
 * work.finally(() => deadline.cancel());
 */
export function deadlineAfter(ms: number, expire: () => void): Deadline {
  let line = lines.get(ms);
  if (line === undefined) {
    line = { ms, first: null, last: null, timer: null };
    lines.set(ms, line);
  }
  const entry: Entry = { at: now() + ms, expire, prev: line.last, next: null };
  if (line.last === null) line.first = entry;
  else line.last.next = entry;
  line.last = entry;
  arm(line);
  const owner = line;
  return {
    cancel() {
      if (entry.expire === null) return;
      entry.expire = null;
      unlink(owner, entry);
    },
  };
}

/**
 * How many deadlines of length `ms` are waiting, cancelled ones not counted. It walks the
 * line: for tests and diagnostics, not for hot paths.
 */
export function deadlinesWaiting(ms: number): number {
  let count = 0;
  for (let entry = lines.get(ms)?.first ?? null; entry !== null; entry = entry.next) count += 1;
  return count;
}
