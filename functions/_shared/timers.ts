/**
 * Timers for work that runs by the thousand.
 *
 * {@link deadlineAfter} serves every deadline of one length with one timer instead of a
 * timer each (a statement, a delivery waiting for its commit). A `setTimeout` and its
 * `clearTimeout` cost a few microseconds and an object for the collector under Deno (its
 * Node-compatible timers): on the intake path, where every delivery had one, about a tenth
 * of the server's CPU per delivery. Deadlines of one length end in the order they began, so
 * they wait in a line and one timer is set for the oldest; a cancelled one leaves the line
 * when it reaches the front. The timer does not keep the process alive (the work a
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

interface Entry {
  readonly at: number;
  expire: (() => void) | null;
}

interface Line {
  readonly ms: number;
  entries: (Entry | undefined)[];
  head: number;
  timer: ReturnType<typeof setTimeout> | null;
}

const lines = new Map<number, Line>();
const now = () => performance.now();

/** Drops finished entries from the front (the array is compacted now and then). */
function trim(line: Line): void {
  const { entries } = line;
  while (line.head < entries.length && entries[line.head]!.expire === null) {
    entries[line.head++] = undefined;
  }
  if (line.head === entries.length) {
    line.entries = [];
    line.head = 0;
  } else if (line.head >= 1024 && line.head * 2 >= entries.length) {
    line.entries = entries.slice(line.head);
    line.head = 0;
  }
}

function arm(line: Line): void {
  if (line.timer !== null || line.head === line.entries.length) return;
  const oldest = line.entries[line.head]!;
  line.timer = setTimeout(() => fire(line), Math.max(0, oldest.at - now()));
  unrefTimer(line.timer);
}

function fire(line: Line): void {
  line.timer = null;
  const at = now();
  const due: (() => void)[] = [];
  const { entries } = line;
  while (line.head < entries.length) {
    const entry = entries[line.head]!;
    if (entry.expire !== null) {
      if (entry.at > at) break;
      due.push(entry.expire);
      entry.expire = null;
    }
    entries[line.head++] = undefined;
  }
  trim(line);
  if (line.head === line.entries.length) lines.delete(line.ms);
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
    line = { ms, entries: [], head: 0, timer: null };
    lines.set(ms, line);
  }
  const entry: Entry = { at: now() + ms, expire };
  line.entries.push(entry);
  arm(line);
  const owner = line;
  return {
    cancel() {
      if (entry.expire === null) return;
      entry.expire = null;
      if (owner.entries[owner.head] === entry) trim(owner);
    },
  };
}
