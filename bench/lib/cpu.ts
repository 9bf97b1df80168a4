/**
 * CPU time a process has used, from Linux's /proc (user + system), or null where that is
 * not available (another OS, a process that has exited, a database on another host). CPU
 * per request is steadier than throughput on a shared machine: a neighbour's load slows
 * every subject down, but hardly changes how much work each request costs.
 */
const TICKS_PER_SECOND = 100;

export function cpuSeconds(pid: number | 'self'): number | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Summed CPU seconds of `pids`, counting a pid not readable as 0. */
export function totalCpuSeconds(pids: Iterable<number>): number {
  let total = 0;
  for (const pid of pids) total += cpuSeconds(pid) ?? 0;
  return total;
}

export interface CpuUse {
  stop(alsoPids: readonly number[]): void;
  readonly seconds: number | null;
}

/** CPU used by `pids` (and pids named at stop) between now and stop. */
export function startCpu(pids: readonly number[]): CpuUse {
  const before = new Map(pids.map((pid) => [pid, cpuSeconds(pid)]));
  let seconds: number | null = null;
  return {
    stop(alsoPids) {
      let total = 0;
      let readable = false;
      for (const pid of new Set([...before.keys(), ...alsoPids])) {
        const now = cpuSeconds(pid);
        if (now === null) continue;
        readable = true;
        total += now - (before.get(pid) ?? 0);
      }
      seconds = readable ? total : null;
    },
    get seconds() {
      return seconds;
    },
  };
}
