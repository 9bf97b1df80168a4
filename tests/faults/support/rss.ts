/**
 * Resident memory of a process (and its descendants) from /proc, sampled in the background
 * while a scenario runs, for bounds such as "RSS stays under 300 MB". Linux only.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

export interface RssSample {
  /** Epoch milliseconds. */
  readonly at: number;
  /** Summed VmRSS of the process and, when asked, its descendants. */
  readonly kb: number;
}

export interface RssReport {
  readonly peakKb: number;
  readonly lastKb: number;
  readonly samples: readonly RssSample[];
  /**
   * The kernel's own peak (VmHWM) of the root process alone: it catches a spike between two
   * samples. Since the process started, or since the sampler began when `resetHighWater`.
   */
  readonly highWaterKb: number | null;
}

export interface RssSampler {
  /** The report so far; sampling goes on. */
  current(): RssReport;
  /** Takes a last sample, stops, and reports. */
  stop(): RssReport;
}

export interface RssOptions {
  /** Between samples (default 50 ms). */
  readonly intervalMs?: number;
  /** Add the RSS of every descendant (default true). */
  readonly includeChildren?: boolean;
  /** Reset the root's VmHWM first (writes 5 to /proc/<pid>/clear_refs; needs our uid or root). */
  readonly resetHighWater?: boolean;
}

/** A field of /proc/<pid>/status in kB, or null when the process is gone. */
function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  // A zombie has no VmRSS line: it holds no memory.
  return match ? Number(match[1]) : 0;
}

/** VmRSS of `pid` in kB, or null when it is gone. */
export function readRssKb(pid: number): number | null {
  return statusKb(pid, 'VmRSS');
}

/** The parent of every process, read from /proc/<pid>/stat. */
function parents(): Map<number, number> {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after
      // the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // It ended while we looked.
    }
  }
  return parentOf;
}

/**
 * Every process descended from `pid` (children, their children, ...). The kernel's
 * /proc/<pid>/task/<tid>/children is not built everywhere, so this walks /proc.
 */
export function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const [child, parent] of parents()) {
    children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/**
 * Samples the RSS of `pid` every `intervalMs` until `stop()`. The timer runs on this
 * process's event loop, so a test that blocks it gets fewer samples (see `highWaterKb`).
 *
 * @example
 * ```ts
 * const rss = sampleRss(await gatehouseServerPid(server.gatehouse.child));
 * await load.stop();
 * expect(rss.stop().peakKb).toBeLessThan(300 * 1024);
 * ```
 */
export function sampleRss(pid: number, options: RssOptions = {}): RssSampler {
  const includeChildren = options.includeChildren ?? true;
  if (options.resetHighWater) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      // Not ours to reset: highWaterKb then counts from the process's start.
    }
  }
  const samples: RssSample[] = [];
  let peakKb = 0;
  const take = () => {
    const root = readRssKb(pid);
    if (root === null) return;
    const children = includeChildren
      ? descendantsOf(pid).reduce((sum, child) => sum + (readRssKb(child) ?? 0), 0)
      : 0;
    const kb = root + children;
    samples.push({ at: Date.now(), kb });
    peakKb = Math.max(peakKb, kb);
  };
  const report = (): RssReport => ({
    peakKb,
    lastKb: samples.at(-1)?.kb ?? 0,
    samples: [...samples],
    highWaterKb: statusKb(pid, 'VmHWM'),
  });
  take();
  const timer = setInterval(take, options.intervalMs ?? 50);
  timer.unref();
  let stopped: RssReport | undefined;
  return {
    current: report,
    stop() {
      if (stopped) return stopped;
      take();
      clearInterval(timer);
      stopped = report();
      return stopped;
    },
  };
}

/**
 * The pid of the Deno server under `node bin/gatehouse.mjs` (what `runGatehouse` spawns):
 * the wrapper is a Node process that spawns Deno and waits, so its own RSS is not the
 * server's. Polls until the Deno child exists.
 *
 * @example
 * ```ts
 * const server = await startLocalServer({ DATABASE_URL: cluster.url });
 * const rss = sampleRss(await gatehouseServerPid(server.gatehouse.child));
 * ```
 */
export async function gatehouseServerPid(
  wrapper: ChildProcess,
  timeoutMs = 10_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (wrapper.pid === undefined || wrapper.exitCode !== null) {
      throw new Error('the gatehouse process is not running');
    }
    const deno = descendantsOf(wrapper.pid).find((pid) => commandName(pid) === 'deno');
    if (deno !== undefined) return deno;
    if (Date.now() > deadline) throw new Error(`no deno process under pid ${wrapper.pid}`);
    await new Promise((next) => setTimeout(next, 20));
  }
}

function commandName(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}
