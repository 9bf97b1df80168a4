/**
 * Fault benchmark: the local server (`gatehouse start`, as `npm start` runs it) under
 * overload, a Postgres restart and a flood of big unsigned bodies, on a throwaway Postgres
 * cluster and on the embedded database. Load comes from a separate process (the fault
 * suite's generator), traffic stays on loopback.
 *
 *   npm run bench:faults                                  # both engines
 *   npm run bench:faults -- --engine postgres --seconds 8 --rounds 3
 *   npm run bench:faults -- --engine embedded --capacity 600   # open loops at 600, 1,200, 2,400/s
 *
 * Placement: with two or more CPUs and `taskset` at hand (`--pin on`, the default there),
 * the load generator runs on the last CPU and the server and Postgres on the others, as
 * remote clients would not share the server's cores; `--pin off` lets the scheduler mix
 * them. The first line of the output says which.
 *
 * Per engine: capacity (closed loops of 16, 32 and 64 connections for `--seconds` each; the
 * best accepted rate, since a loop larger than the server's adaptive in-flight limit spins
 * on refusals); then an open loop at 1x, 2x and 4x that rate (accepted per second, accepted p50 and
 * p99, how the rest was shed, the server's peak RSS); on Postgres, `--rounds` restarts of
 * Postgres under load (time from Postgres accepting connections to the first 200); then 128
 * concurrent 3 MB bodies without a signature and with a wrong one (peak RSS). Ends with the
 * issue's targets: accepted p99 <= 100 ms at 4x, recovery <= 2 s, peak RSS <= 300 MB on
 * Postgres and <= 350 MB embedded.
 */
import { startThrowawayCluster, type ThrowawayCluster } from '../tests/faults/support/cluster.ts';
import { type LoadResult, startLoad } from '../tests/faults/support/load.ts';
import type { LoadSpec } from '../tests/faults/support/load-spec.ts';
import { sampleRss } from '../tests/faults/support/rss.ts';
import { cpuSeconds, startCpu } from './lib/cpu.ts';
import {
  APP_SECRET,
  type FaultServer,
  removeDataDir,
  startFaultServer,
} from '../tests/faults/support/server.ts';

const args = new Map<string, string>();
for (let i = 0; i < Deno.args.length; i += 2) args.set(Deno.args[i]!, Deno.args[i + 1] ?? '');
const ENGINES = (args.get('--engine') ?? 'postgres,embedded').split(',');
const SECONDS = Number(args.get('--seconds') ?? 6);
const ROUNDS = Number(args.get('--rounds') ?? 3);
/** `--env A=1,B=2`: extra settings for the server, e.g. to compare a setting's effect. */
const SERVER_ENV: Record<string, string> = Object.fromEntries(
  (args.get('--env') ?? '').split(',').filter(Boolean).map((pair) => {
    const at = pair.indexOf('=');
    if (at < 1) throw new Error(`--env takes NAME=value pairs, not ${pair}`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);
/**
 * `--statements N`: load pg_stat_statements into the throwaway cluster and print, under
 * each step, the N statements that took Postgres the most time in it (where its CPU goes).
 */
const STATEMENTS = Number(args.get('--statements') ?? 0);
/**
 * `--capacity N`: the open loops offer 1x, 2x and 4x N a second instead of the measured
 * capacity (the closed loops still run and print), to compare two versions or settings at
 * the same offered load: a change that lets the process carry more in a closed loop raises
 * the measured capacity, and with it the load the 4x step offers.
 */
const FIXED_CAPACITY = args.has('--capacity') ? Number(args.get('--capacity')) : null;
if (FIXED_CAPACITY !== null && !(FIXED_CAPACITY >= 10)) {
  throw new Error(`--capacity takes a rate of at least 10 a second, not ${args.get('--capacity')}`);
}
const CAPACITY_CONNECTIONS = [16, 32, 64];
/** Each open loop climbs to its rate over this long before it is measured (see `rampMs`). */
const RAMP_MS = 2_000;
const FLOOD = { concurrency: 128, bodyBytes: 3 * 1024 * 1024 };
const CPUS = navigator.hardwareConcurrency;
const PIN = (args.get('--pin') ?? (CPUS >= 2 && await hasTaskset() ? 'on' : 'off')) === 'on';
const LOAD_CPU = String(CPUS - 1);
const SERVER_CPUS = CPUS > 2 ? `0-${CPUS - 2}` : '0';
const TARGETS = { p99AtFourMs: 100, recoveryMs: 2_000, rssMb: { postgres: 300, embedded: 350 } };

interface Row {
  readonly subject: string;
  readonly offered: string;
  readonly result: LoadResult;
  readonly seconds: number;
  readonly peakRssMb: number;
  /** Cores used on average by the server process, Postgres (null: embedded), the load. */
  readonly serverCores: number | null;
  readonly postgresCores: number | null;
  readonly loadCores: number | null;
  /** `--statements`: the step's costliest statements, one line each. */
  readonly statements?: readonly string[];
}

async function hasTaskset(): Promise<boolean> {
  try {
    return (await new Deno.Command('taskset', { args: ['-V'], stdout: 'null', stderr: 'null' })
      .output()).success;
  } catch {
    return false;
  }
}

async function taskset(cpus: string, pid: number): Promise<void> {
  const done = await new Deno.Command('taskset', {
    args: ['-a', '-p', '-c', cpus, String(pid)],
    stdout: 'null',
    stderr: 'piped',
  }).output();
  // A process that ended meanwhile (a backend closing) is no error.
  const error = new TextDecoder().decode(done.stderr);
  if (!done.success && !/No such process/.test(error)) throw new Error(`taskset: ${error}`);
}

/**
 * Moves the server (every thread) and Postgres (the postmaster, whose later children
 * inherit it, and its current children) to the server's CPUs; the bench process, whose
 * children are the load generators, to the last one. Again after each Postgres restart.
 */
async function place(server: FaultServer, cluster: ThrowawayCluster | undefined): Promise<void> {
  if (!PIN) return;
  await taskset(LOAD_CPU, Deno.pid);
  await taskset(SERVER_CPUS, server.pid);
  if (!cluster) return;
  for (const pid of await postgresPids(cluster)) await taskset(SERVER_CPUS, pid);
}

/** The cluster's postmaster and its current children. */
async function postgresPids(cluster: ThrowawayCluster): Promise<number[]> {
  const postmaster = Number(
    (await Deno.readTextFile(`${cluster.folder}/data/postmaster.pid`)).split('\n')[0],
  );
  const children = await Deno.readTextFile(`/proc/${postmaster}/task/${postmaster}/children`);
  return [postmaster, ...children.trim().split(/\s+/).filter(Boolean).map(Number)];
}

const mb = (kb: number) => Math.round(kb / 1024);
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

/** Runs `spec` for `seconds` against the server and samples its RSS meanwhile. */
async function measure(
  server: FaultServer,
  cluster: ThrowawayCluster | undefined,
  subject: string,
  offered: string,
  spec: Pick<LoadSpec, 'loop' | 'traffic'> & Partial<LoadSpec>,
  seconds: number,
): Promise<Row> {
  if (Deno.env.get('BENCH_DEBUG')) console.log('step', subject);
  if (STATEMENTS > 0 && cluster) await cluster.query('select pg_stat_statements_reset()');
  const rss = sampleRss(server.pid, { resetHighWater: true });
  const load = await startLoad({
    baseUrl: server.base,
    durationMs: seconds * 1000,
    timeoutMs: 15_000,
    ...spec,
  });
  // CPU counts from the end of an open loop's ramp: the measured run.
  const rampMs = spec.loop.kind === 'open' ? spec.loop.rampMs ?? 0 : 0;
  if (rampMs > 0) await new Promise((next) => setTimeout(next, rampMs));
  const serverCpu = startCpu([server.pid]);
  const postgresCpu = cluster ? startCpu(await postgresPids(cluster)) : undefined;
  const began = performance.now();
  // The generator has exited by the time the run is parsed: its CPU is read as it goes.
  const loadStart = cpuSeconds(load.pid);
  let loadLast = loadStart;
  const loadSampler = setInterval(() => (loadLast = cpuSeconds(load.pid) ?? loadLast), 100);
  const result = await load.finished();
  clearInterval(loadSampler);
  const report = rss.stop();
  serverCpu.stop([]);
  postgresCpu?.stop(cluster ? await postgresPids(cluster) : []);
  const wall = (performance.now() - began) / 1000;
  const cores = (use: { seconds: number | null } | undefined) =>
    use?.seconds == null ? null : use.seconds / wall;
  const peak = Math.max(report.peakKb, report.highWaterKb ?? 0);
  const statements = STATEMENTS > 0 && cluster
    ? await costliestStatements(cluster, result.counts['200'] ?? 0)
    : undefined;
  return {
    statements,
    subject,
    offered,
    result,
    seconds,
    peakRssMb: mb(peak),
    serverCores: cores(serverCpu),
    postgresCores: cores(postgresCpu),
    loadCores: loadStart === null || loadLast === null ? null : (loadLast - loadStart) / wall,
  };
}

/** The step's costliest statements: calls, total and mean time, time per accepted delivery. */
async function costliestStatements(cluster: ThrowawayCluster, ok: number): Promise<string[]> {
  const rows = await cluster.query<
    { calls: string; total: number; mean: number; rows: string; query: string }
  >(
    `select calls::text, total_exec_time as total, mean_exec_time as mean, rows::text,
            regexp_replace(query, '[[:space:]]+', ' ', 'g') as query
       from pg_stat_statements
      where query not like '%pg_stat_statements%'
      order by total_exec_time desc limit $1`,
    [STATEMENTS],
  );
  return rows.map((row) =>
    `    ${fmt(row.total, 0).padStart(7)} ms ${row.calls.padStart(7)} calls ` +
    `${fmt(row.mean, 3).padStart(8)} ms mean ${
      fmt(1000 * row.total / Math.max(1, ok), 0).padStart(5)
    } us/ok  ${row.query.slice(0, 90)}`
  );
}

function accepted(row: Row): number {
  return row.result.counts['200'] ?? 0;
}

function printRows(rows: readonly Row[]): void {
  console.log(
    'subject'.padEnd(34) + 'offered'.padStart(12) + 'ok/s'.padStart(8) + 'ok p50'.padStart(9) +
      'ok p99'.padStart(9) + 'ans p99'.padStart(9) + 'new conn'.padStart(9) +
      '  RSS MB' + 'cores srv/pg/load'.padStart(19) + '  answers',
  );
  for (const row of rows) {
    const answers = Object.entries(row.result.counts).map(([status, n]) => `${status}:${n}`)
      .join(' ');
    const skipped = row.result.skipped > 0 ? ` (not sent: ${row.result.skipped})` : '';
    console.log(
      row.subject.padEnd(34) + row.offered.padStart(12) +
        fmt(accepted(row) / row.seconds).padStart(8) +
        fmt(row.result.okLatency.p50, 1).padStart(9) +
        fmt(row.result.okLatency.p99, 1).padStart(9) +
        fmt(row.result.okAnswerLatency.p99, 1).padStart(9) +
        `${fmt(100 * row.result.okOnNewConnection / Math.max(1, accepted(row)))}%`.padStart(9) +
        String(row.peakRssMb).padStart(8) +
        [row.serverCores, row.postgresCores, row.loadCores].map((n) => fmt(n ?? NaN, 2)).join('/')
          .padStart(19) +
        `  ${answers}${skipped}`,
    );
    for (const line of row.statements ?? []) console.log(line);
  }
}

interface EngineReport {
  readonly engine: 'postgres' | 'embedded';
  readonly rows: Row[];
  readonly recoveriesMs: number[];
  readonly failures: string[];
}

async function runEngine(engine: 'postgres' | 'embedded'): Promise<EngineReport> {
  let cluster: ThrowawayCluster | undefined;
  if (engine === 'postgres') {
    cluster = await startThrowawayCluster(
      STATEMENTS > 0 ? { settings: { shared_preload_libraries: "'pg_stat_statements'" } } : {},
    );
    if (STATEMENTS > 0) await cluster.query('create extension pg_stat_statements');
  }
  const server = await startFaultServer({ databaseUrl: cluster?.url, env: SERVER_ENV });
  const rows: Row[] = [];
  const recoveriesMs: number[] = [];
  const failures: string[] = [];
  const signed = { kind: 'signed', secret: APP_SECRET } as const;
  try {
    await place(server, cluster);
    // Warm-up, then capacity.
    await measure(server, cluster, 'warm-up', '', {
      loop: { kind: 'closed', concurrency: 32 },
      traffic: signed,
    }, 2);
    // Capacity: the best accepted rate of closed loops of a few sizes. A loop larger than
    // the server's in-flight limit spins on refusals, so one size alone may understate it.
    let capacity: Row | undefined;
    for (const connections of CAPACITY_CONNECTIONS) {
      const row = await measure(server, cluster, `closed loop of ${connections}`, '-', {
        loop: { kind: 'closed', concurrency: connections },
        traffic: signed,
      }, SECONDS);
      rows.push(row);
      if (!capacity || accepted(row) > accepted(capacity)) capacity = row;
    }
    const measured = Math.max(10, Math.round(accepted(capacity!) / capacity!.seconds));
    const rate = FIXED_CAPACITY ?? measured;
    console.log(
      FIXED_CAPACITY === null
        ? `capacity: ${rate}/s (${capacity!.subject})`
        : `capacity: ${rate}/s as given (measured: ${measured}/s, ${capacity!.subject})`,
    );
    for (const factor of [1, 2, 4]) {
      rows.push(
        await measure(server, cluster, `open loop at ${factor}x capacity`, `${rate * factor}/s`, {
          loop: {
            kind: 'open',
            rate: rate * factor,
            arrivals: 'poisson',
            maxOutstanding: 4_096,
            rampMs: RAMP_MS,
          },
          traffic: signed,
        }, SECONDS),
      );
    }
    if (cluster) {
      for (let round = 1; round <= ROUNDS; round += 1) {
        recoveriesMs.push(await postgresRestart(server, cluster));
        await place(server, cluster);
      }
    }
    for (const signature of ['none', 'wrong'] as const) {
      rows.push(
        await measure(
          server,
          cluster,
          `${FLOOD.concurrency} x 3 MB, signature ${signature}`,
          `${FLOOD.concurrency} conns`,
          {
            loop: { kind: 'closed', concurrency: FLOOD.concurrency },
            traffic: { kind: 'unsigned-big', bodyBytes: FLOOD.bodyBytes, signature },
            maxRequests: FLOOD.concurrency * 3,
          },
          SECONDS,
        ),
      );
    }
    if (server.faults().length > 0) failures.push(`crash guard lines: ${server.faults().length}`);
    if (server.gatehouse.child.exitCode !== null) failures.push('the server exited');
  } finally {
    await server.stop();
    await removeDataDir(server.dataDir);
    await cluster?.destroy();
  }
  return { engine, rows, recoveriesMs, failures };
}

/** Stops Postgres under a closed loop; returns ms from its return to the first 200. */
async function postgresRestart(server: FaultServer, cluster: ThrowawayCluster): Promise<number> {
  const load = await startLoad({
    baseUrl: server.base,
    loop: { kind: 'closed', concurrency: 32 },
    traffic: { kind: 'signed', secret: APP_SECRET },
  });
  await load.waitFor((progress) => (progress.counts['200'] ?? 0) >= 200, 30_000);
  await cluster.stop('fast');
  const refusedBefore = load.progress().counts['503'] ?? 0;
  await load.waitFor((progress) => (progress.counts['503'] ?? 0) >= refusedBefore + 100, 30_000);
  await cluster.start();
  const backAt = Date.now();
  await load.waitFor((progress) => (progress.lastOkAt ?? 0) >= backAt, 30_000);
  // Closing its stdin: a SIGTERM from a Deno parent ends the generator before its handler runs.
  const result = await load.stop({ via: 'stdin' });
  const first = result.firstAfter(backAt, 200);
  return first ? first.end - backAt : NaN;
}

console.log(
  PIN
    ? `placement: load generator on CPU ${LOAD_CPU}, server and Postgres on CPU ${SERVER_CPUS} ` +
      `(${CPUS} CPUs; --pin off to mix them)`
    : `placement: not pinned (${CPUS} CPUs): the load generator shares the server's CPUs`,
);
const reports: EngineReport[] = [];
for (const engine of ENGINES) {
  if (engine !== 'postgres' && engine !== 'embedded') throw new Error(`unknown engine ${engine}`);
  console.log(`\n== ${engine} (${SECONDS} s per step) ==`);
  const report = await runEngine(engine);
  reports.push(report);
  printRows(report.rows);
  if (report.recoveriesMs.length > 0) {
    console.log(
      `Postgres restarted under load: first 200 ${
        report.recoveriesMs.map((ms) => `${fmt(ms)} ms`).join(', ')
      } after it accepted connections again`,
    );
  }
}

console.log('\ntargets:');
let met = true;
const check = (label: string, ok: boolean) => {
  console.log(`${ok ? 'ok  ' : 'MISS'} ${label}`);
  met &&= ok;
};
for (const report of reports) {
  const atFour = report.rows.find((row) => row.subject.startsWith('open loop at 4x'));
  if (atFour) {
    check(
      `${report.engine}: accepted p99 at 4x ${fmt(atFour.result.okLatency.p99, 1)} ms <= ` +
        `${TARGETS.p99AtFourMs} ms`,
      atFour.result.okLatency.p99 <= TARGETS.p99AtFourMs,
    );
  }
  const budget = TARGETS.rssMb[report.engine];
  const peak = Math.max(...report.rows.map((row) => row.peakRssMb));
  check(`${report.engine}: peak RSS ${peak} MB <= ${budget} MB`, peak <= budget);
  if (report.recoveriesMs.length > 0) {
    const worst = Math.max(...report.recoveriesMs);
    check(
      `${report.engine}: recovery ${fmt(worst)} ms (worst of ${report.recoveriesMs.length}) <= ` +
        `${TARGETS.recoveryMs} ms`,
      worst <= TARGETS.recoveryMs,
    );
  }
  for (const failure of report.failures) check(`${report.engine}: ${failure}`, false);
}
console.log(met ? '\nall targets met' : '\nsome targets missed');
