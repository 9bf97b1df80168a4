/**
 * Job benchmark: Gatehouse's job engine beside graphile-worker and pg-boss on the same
 * Postgres, in one run, with the same job-slot count and pool size for each.
 *
 *   npm run bench:jobs                            # Postgres at 127.0.0.1:5432
 *   BENCH_DATABASE_URL=postgres://... npm run bench:jobs -- --jobs 50000 --concurrency 10
 *
 * For each system, in a database of its own created for the run (dropped at the end):
 * 1. enqueue `--jobs` no-op jobs with the system's batch API, `--chunk` jobs per call;
 * 2. drain them: workers start after the enqueue; the drain ends when every job is
 *    recorded completed in the database (jobs/s = jobs / drain time);
 * 3. latency: with the workers idle and waiting, a producer enqueues `--trickle-rate`
 *    jobs per second one at a time for `--trickle-seconds`; latency = the handler's start
 *    − the moment the producer called enqueue (same process, same clock).
 * With `--rounds` above 1 (default 3) the systems take turns, each round starting with the
 * next one; rates are medians over the rounds and latency percentiles pool every round.
 * Gatehouse's low-latency path is the kick: the producer calls a coalescing kicker that
 * runs a worker pass (as the webhooks function does after its ack), plus a sweep every
 * `--gatehouse-poll-ms`. Gatehouse runs twice too: at its defaults and with
 * `--best-batch` (500) jobs claimed per round trip (`gatehouse-best`,
 * GATEHOUSE_WORKER_BATCH_SIZE). graphile-worker runs twice, at its defaults (`graphile`) and at
 * its documented throughput settings (`graphile-best`: a local queue of
 * `--graphile-local-queue` jobs and batched completion), and wakes on LISTEN/NOTIFY; pg-boss
 * runs at its defaults (`pgboss`: one job per worker per 2 s poll, so it drains
 * `--boss-default-jobs` jobs instead of `--jobs`, which would take hours) and tuned
 * (`pgboss-best`: batched fetching polled every `--boss-poll-seconds`). Prints the targets met or
 * missed, then correctness checks (every job ran exactly once and is completed); exits 1
 * when a check fails.
 */
import { postgresJobStore } from '../functions/_shared/queue/store.ts';
import { Logger as GraphileLogger, makeWorkerUtils, run as runGraphile } from 'graphile-worker';
import { PgBoss } from 'pg-boss';
import postgres from 'postgres';
import { join } from 'node:path';
import { loadMigrationFiles, runMigrations } from '../cli/migrate.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import { QUEUE_DEFAULTS } from '../functions/_shared/config/queue.ts';
import { createPostgresDb } from '../functions/_shared/db/postgres.ts';
import { createLogger } from '../functions/_shared/log/index.ts';
import { createKicker } from '../functions/_shared/queue/kicker.ts';
import { JobRegistry } from '../functions/_shared/queue/registry.ts';
import { enqueueJobs } from '../functions/_shared/queue/store.ts';
import { newWorkerId, runWorker } from '../functions/_shared/queue/worker.ts';

const args = new Map<string, string>();
for (let i = 0; i < Deno.args.length; i += 2) args.set(Deno.args[i]!, Deno.args[i + 1] ?? '');
const JOBS = Number(args.get('--jobs') ?? 50_000);
const CHUNK = Number(args.get('--chunk') ?? 1_000);
/** Jobs running at once, and the pool size, for every system. */
const CONCURRENCY = Number(args.get('--concurrency') ?? 10);
const POOL = Number(args.get('--pool') ?? CONCURRENCY);
/** Jobs Gatehouse claims per round trip. */
const BATCH = Number(args.get('--batch') ?? CONCURRENCY);
const TRICKLE_RATE = Number(args.get('--trickle-rate') ?? 20);
const TRICKLE_SECONDS = Number(args.get('--trickle-seconds') ?? 10);
const GATEHOUSE_POLL_MS = Number(args.get('--gatehouse-poll-ms') ?? 1_000);
const BOSS_POLL_SECONDS = Number(args.get('--boss-poll-seconds') ?? 0.5);
/** pg-boss workers (`localConcurrency`) and jobs each fetches at once (`batchSize`). */
const BOSS_WORKERS = Number(args.get('--boss-workers') ?? CONCURRENCY);
const BOSS_BATCH = Number(args.get('--boss-batch') ?? 10);
/**
 * Jobs pg-boss drains at its defaults (one job per worker per 2 s poll, about 5 jobs/s with
 * 10 workers): a drain of `--jobs` would take hours, so this run drains fewer.
 */
const BOSS_DEFAULT_JOBS = Number(args.get('--boss-default-jobs') ?? 200);
/** Whole runs of every system; each round starts with the next system in turn. */
const ROUNDS = Number(args.get('--rounds') ?? 3);
const ONLY = new Set(
  (args.get('--only') ??
    'gatehouse,gatehouse-best,graphile,graphile-best,pgboss,pgboss-best').split(','),
);
const ADMIN_URL = Deno.env.get('BENCH_DATABASE_URL') ??
  'postgres://postgres@127.0.0.1:5432/postgres';
const RUN = String(Date.now());

interface Result {
  readonly name: string;
  readonly setup: string;
  /** Jobs enqueued and drained (`--jobs` for all but pg-boss at its defaults). */
  readonly jobs?: number;
  readonly enqueueMs: number;
  readonly drainMs: number;
  readonly latencies: number[];
  readonly checks: [string, boolean][];
}

/** What every system's handler does: note when it started, and for which job. */
class Recorder {
  readonly starts = new Map<number, number>();
  duplicates = 0;
  count = 0;
  #waiters: { target: number; resolve: () => void }[] = [];

  start(seq: number): void {
    if (this.starts.has(seq)) this.duplicates += 1;
    else this.starts.set(seq, performance.now());
    this.count += 1;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.count < waiter.target) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Resolves once `target` handler starts have been seen, or rejects after `ms`. */
  reached(target: number, ms: number): Promise<void> {
    if (this.count >= target) return Promise.resolve();
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const timer = setTimeout(
      () => reject(new Error(`only ${this.count} of ${target} jobs started within ${ms} ms`)),
      ms,
    );
    this.#waiters.push({ target, resolve: () => (clearTimeout(timer), resolve()) });
    return promise;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `count` until it returns 0; resolves with the moment it did. */
async function whenZero(count: () => Promise<number>, ms = 120_000): Promise<number> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if ((await count()) === 0) return performance.now();
    await sleep(20);
  }
  throw new Error('jobs still not completed');
}

/** Calls `enqueue(seq)` at a steady rate, one at a time; returns when each call was made. */
async function trickle(firstSeq: number, enqueue: (seq: number) => Promise<unknown>) {
  const total = Math.round(TRICKLE_RATE * TRICKLE_SECONDS);
  const interval = 1000 / TRICKLE_RATE;
  const enqueuedAt = new Map<number, number>();
  const began = performance.now();
  for (let i = 0; i < total; i += 1) {
    const wait = began + i * interval - performance.now();
    if (wait > 0) await sleep(wait);
    const seq = firstSeq + i;
    enqueuedAt.set(seq, performance.now());
    await enqueue(seq);
  }
  return enqueuedAt;
}

function latencies(recorder: Recorder, enqueuedAt: Map<number, number>): number[] {
  return [...enqueuedAt].map(([seq, at]) => recorder.starts.get(seq)! - at);
}

function chunks(first: number, total: number): number[][] {
  const out: number[][] = [];
  for (let start = 0; start < total; start += CHUNK) {
    out.push(
      Array.from({ length: Math.min(CHUNK, total - start) }, (_, i) => first + start + i),
    );
  }
  return out;
}

function exactlyOnce(recorder: Recorder, expected: number): [string, boolean] {
  return [
    `every job ran exactly once: ${recorder.starts.size} of ${expected}, ` +
    `${recorder.duplicates} duplicates`,
    recorder.starts.size === expected && recorder.duplicates === 0,
  ];
}

async function freshDatabase(admin: postgres.Sql, system: string): Promise<string> {
  const name = `gh_bench_jobs_${RUN}_${system}`;
  await admin.unsafe(`create database "${name}"`);
  await admin.unsafe('checkpoint');
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Gatehouse's throughput setting: jobs claimed per round trip (GATEHOUSE_WORKER_BATCH_SIZE). */
const GATEHOUSE_BEST_BATCH = Number(args.get('--best-batch') ?? 500);

function gatehouseDefaults(url: string): Promise<Result> {
  return gatehouse(url, BATCH, 'Gatehouse');
}

function gatehouseBest(url: string): Promise<Result> {
  return gatehouse(url, GATEHOUSE_BEST_BATCH, 'Gatehouse best');
}

async function gatehouse(url: string, batchSize: number, name: string): Promise<Result> {
  const db = createPostgresDb({ url, max: POOL, applicationName: 'bench-gatehouse' });
  const producer = createPostgresDb({ url, max: 1, applicationName: 'bench-producer' });
  try {
    await runMigrations(db, await loadMigrationFiles(join(import.meta.dirname!, '../migrations')));
    const recorder = new Recorder();
    const registry = new JobRegistry().register<{ seq: number }>('noop', {
      handler: (payload) => {
        recorder.start(payload.seq);
        return Promise.resolve();
      },
    });
    const logger = createLogger({ level: 'warn', sink: (line) => console.error(line) });
    const pass = (budgetMs: number) =>
      runWorker({
        store: postgresJobStore,
        db,
        registry,
        logger,
        clock: systemClock,
        workerId: newWorkerId('bench'),
        budgetMs,
        batchSize,
        concurrency: CONCURRENCY,
        leaseSeconds: QUEUE_DEFAULTS.leaseSeconds,
        slowJobMs: 30_000,
      });

    let began = performance.now();
    for (const seqs of chunks(0, JOBS)) {
      await enqueueJobs(producer, seqs.map((seq) => ({ kind: 'noop', payload: { seq } })));
    }
    const enqueueMs = performance.now() - began;

    began = performance.now();
    const report = await pass(600_000);
    const drainMs = performance.now() - began;

    const kick = createKicker(() => pass(2_000), logger);
    const sweep = setInterval(() => void kick(), GATEHOUSE_POLL_MS);
    await kick();
    const enqueuedAt = await trickle(JOBS, async (seq) => {
      await enqueueJobs(producer, [{ kind: 'noop', payload: { seq } }]);
      void kick();
    });
    await recorder.reached(JOBS + enqueuedAt.size, 10_000);
    clearInterval(sweep);
    await kick();

    const total = JOBS + enqueuedAt.size;
    const [row] = await db.query<{ completed: number; other: number }>(
      `select count(*) filter (where status = 'completed')::int as completed,
              count(*) filter (where status <> 'completed')::int as other
         from public.jobs`,
    );
    return {
      name,
      setup: `runWorker concurrency ${CONCURRENCY}, batch ${batchSize}, pool ${POOL}; ` +
        `enqueueJobs ${CHUNK}/call; kick + ${GATEHOUSE_POLL_MS} ms sweep`,
      enqueueMs,
      drainMs,
      latencies: latencies(recorder, enqueuedAt),
      checks: [
        exactlyOnce(recorder, total),
        [
          `drain report: ${report.completed} completed of ${report.claimed} claimed`,
          report.completed === JOBS && report.claimed === JOBS,
        ],
        [
          `all completed in the database: ${row!.completed}, ${row!.other} not`,
          row!.completed ===
            total && row!.other === 0,
        ],
      ],
    };
  } finally {
    await producer.close();
    await db.close();
  }
}

/**
 * graphile-worker's documented throughput settings (worker.graphile.org/docs/performance):
 * a local queue that fetches and locks jobs in batches, and batched completion.
 */
const GRAPHILE_BEST = {
  localQueue: { size: Number(args.get('--graphile-local-queue') ?? 500) },
  completeJobBatchDelay: 0,
  failJobBatchDelay: 0,
} as const;

function graphileDefaults(url: string): Promise<Result> {
  return graphile(url, false);
}

function graphileBest(url: string): Promise<Result> {
  return graphile(url, true);
}

async function graphile(url: string, best: boolean): Promise<Result> {
  const recorder = new Recorder();
  const logger = new GraphileLogger(() => (level, message) => {
    if (level === 'error') console.error(`graphile-worker: ${message}`);
  });
  const utils = await makeWorkerUtils({ connectionString: url, logger });
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await utils.migrate();
    const remaining = async () =>
      Number((await sql`select count(*)::int as n from graphile_worker._private_jobs`)[0]!.n);

    let began = performance.now();
    for (const seqs of chunks(0, JOBS)) {
      await utils.addJobs(seqs.map((seq) => ({ identifier: 'noop', payload: { seq } })));
    }
    const enqueueMs = performance.now() - began;

    began = performance.now();
    const runner = await runGraphile({
      connectionString: url,
      concurrency: CONCURRENCY,
      maxPoolSize: POOL,
      noHandleSignals: true,
      logger,
      ...(best ? { preset: { worker: GRAPHILE_BEST } } : {}),
      taskList: {
        noop: (payload) => {
          recorder.start((payload as { seq: number }).seq);
          return Promise.resolve();
        },
      },
    });
    await recorder.reached(JOBS, 600_000);
    const drainMs = (await whenZero(remaining)) - began;

    const enqueuedAt = await trickle(JOBS, (seq) => utils.addJob('noop', { seq }));
    await recorder.reached(JOBS + enqueuedAt.size, 10_000);
    await whenZero(remaining);
    await runner.stop();

    return {
      name: best ? 'graphile-worker best' : 'graphile-worker',
      setup: `concurrency ${CONCURRENCY}, maxPoolSize ${POOL}, ` +
        (best
          ? `localQueue.size ${GRAPHILE_BEST.localQueue.size}, completeJobBatchDelay 0, ` +
            'failJobBatchDelay 0 (its documented throughput settings)'
          : 'defaults otherwise (LISTEN/NOTIFY, poll 2 s, no local queue, no batched completion)') +
        `; addJobs ${CHUNK}/call`,
      enqueueMs,
      drainMs,
      latencies: latencies(recorder, enqueuedAt),
      checks: [
        exactlyOnce(recorder, JOBS + enqueuedAt.size),
        [`all completed (none left in its jobs table)`, (await remaining()) === 0],
      ],
    };
  } finally {
    await utils.release();
    await sql.end();
  }
}

function pgBossDefaults(url: string): Promise<Result> {
  return pgBoss(url, false);
}

function pgBossBest(url: string): Promise<Result> {
  return pgBoss(url, true);
}

/**
 * pg-boss at its defaults (`localConcurrency` only, for the shared job-slot count) or with
 * batched fetching polled at its shortest interval (`best`).
 */
async function pgBoss(url: string, best: boolean): Promise<Result> {
  const jobs = best ? JOBS : BOSS_DEFAULT_JOBS;
  const recorder = new Recorder();
  const boss = new PgBoss({ connectionString: url, max: POOL, schedule: false });
  boss.on('error', (error: unknown) => console.error('pg-boss:', error));
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await boss.start();
    await boss.createQueue('bench');
    const remaining = async () =>
      Number(
        (await sql`select count(*)::int as n from pgboss.job
                    where name = 'bench' and state <> 'completed'`)[0]!.n,
      );

    let began = performance.now();
    for (const seqs of chunks(0, jobs)) {
      await boss.insert('bench', seqs.map((seq) => ({ data: { seq } })));
    }
    const enqueueMs = performance.now() - began;

    began = performance.now();
    const options = best
      ? {
        localConcurrency: BOSS_WORKERS,
        batchSize: BOSS_BATCH,
        pollingIntervalSeconds: BOSS_POLL_SECONDS,
        burstWhenBatchFull: true,
      }
      : { localConcurrency: BOSS_WORKERS };
    await boss.work<{ seq: number }>('bench', options, (batch) => {
      for (const job of batch) recorder.start(job.data.seq);
      return Promise.resolve();
    });
    await recorder.reached(jobs, 600_000);
    const drainMs = (await whenZero(remaining)) - began;

    const enqueuedAt = await trickle(jobs, (seq) => boss.send('bench', { seq }));
    // At its defaults pg-boss starts about 5 jobs a second: the trickle's take a while.
    await recorder.reached(jobs + enqueuedAt.size, best ? 10_000 : 120_000);
    await whenZero(remaining);

    return {
      name: best ? 'pg-boss best' : 'pg-boss',
      setup: best
        ? `${BOSS_WORKERS} workers (localConcurrency) x batchSize ${BOSS_BATCH}, ` +
          `burstWhenBatchFull, pool ${POOL}, polling every ${BOSS_POLL_SECONDS} s; ` +
          `insert ${CHUNK}/call`
        : `${BOSS_WORKERS} workers (localConcurrency), everything else default (batchSize 1, ` +
          `polling every 2 s), pool ${POOL}; ${jobs} jobs drained; insert ${CHUNK}/call`,
      jobs,
      enqueueMs,
      drainMs,
      latencies: latencies(recorder, enqueuedAt),
      checks: [
        exactlyOnce(recorder, jobs + enqueuedAt.size),
        [`all completed (none left in another state)`, (await remaining()) === 0],
      ],
    };
  } finally {
    await boss.stop({ graceful: true, timeout: 5_000 });
    await sql.end();
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One system's rounds: median rates, latencies pooled over every round. */
interface Summary {
  readonly name: string;
  readonly setup: string;
  readonly enqueuePerSecond: number;
  readonly drainPerSecond: number;
  readonly drainRounds: number[];
  readonly latencies: number[];
}

function summarize(rounds: Result[]): Summary {
  const drainRounds = rounds.map((r) => (r.jobs ?? JOBS) / (r.drainMs / 1000));
  return {
    name: rounds[0]!.name,
    setup: rounds[0]!.setup,
    enqueuePerSecond: median(rounds.map((r) => (r.jobs ?? JOBS) / (r.enqueueMs / 1000))),
    drainPerSecond: median(drainRounds),
    drainRounds,
    latencies: rounds.flatMap((r) => r.latencies),
  };
}

const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
const created: string[] = [];
const results = new Map<string, Result[]>();
let failed = false;
const systems: [string, (url: string) => Promise<Result>][] = [
  ['gatehouse', gatehouseDefaults],
  ['gatehouse-best', gatehouseBest],
  ['graphile', graphileDefaults],
  ['graphile-best', graphileBest],
  ['pgboss', pgBossDefaults],
  ['pgboss-best', pgBossBest],
].filter(([system]) => ONLY.has(system as string)) as [string, (url: string) => Promise<Result>][];
try {
  for (let round = 0; round < ROUNDS; round += 1) {
    // Each round starts with the next system, so slow drift on the machine is shared out.
    const order = [
      ...systems.slice(round % systems.length),
      ...systems.slice(0, round % systems.length),
    ];
    for (const [system, bench] of order) {
      const url = await freshDatabase(admin, `${system}_${round}`);
      const name = new URL(url).pathname.slice(1);
      created.push(name);
      console.error(`round ${round + 1}/${ROUNDS}: ${system}...`);
      const result = await bench(url);
      results.set(system, [...(results.get(system) ?? []), result]);
      await admin.unsafe(`drop database if exists "${name}" with (force)`);
    }
  }
  const summaries = systems.map(([system]) => summarize(results.get(system)!));

  console.log(
    `\njobs benchmark: ${JOBS.toLocaleString('en')} no-op jobs; ${CONCURRENCY} jobs at once and ` +
      `a pool of ${POOL} per system; latency over ${TRICKLE_RATE} jobs/s for ` +
      `${TRICKLE_SECONDS} s, enqueued one at a time; ${ROUNDS} round(s), rates are medians, ` +
      `latencies pooled\n`,
  );
  console.log(
    'system'.padEnd(18) + 'enqueue/s'.padStart(11) + 'drain jobs/s'.padStart(14) +
      'p50 ms'.padStart(9) + 'p95 ms'.padStart(9) + 'p99 ms'.padStart(9) +
      'max ms'.padStart(9) + '   drain jobs/s per round',
  );
  for (const r of summaries) {
    console.log(
      r.name.padEnd(18) + r.enqueuePerSecond.toFixed(0).padStart(11) +
        r.drainPerSecond.toFixed(0).padStart(14) +
        [50, 95, 99, 100].map((p) => percentile(r.latencies, p).toFixed(1).padStart(9)).join('') +
        '   ' + r.drainRounds.map((rate) => rate.toFixed(0)).join(', '),
    );
  }
  console.log('');
  for (const r of summaries) console.log(`${r.name}: ${r.setup}`);
  const ours = summaries.find((r) => r.name === 'Gatehouse');
  if (ours) {
    console.log('');
    for (const peer of summaries.filter((r) => !r.name.startsWith('Gatehouse'))) {
      const ratio = (pick: (r: Summary) => number) => (pick(ours) / pick(peer)).toFixed(2);
      console.log(
        `Gatehouse / ${peer.name}: drain ${ratio((r) => r.drainPerSecond)}x, enqueue ` +
          `${ratio((r) => r.enqueuePerSecond)}x; latency (below 1 = Gatehouse faster) p50 ` +
          `${ratio((r) => percentile(r.latencies, 50))}x, p95 ` +
          `${ratio((r) => percentile(r.latencies, 95))}x, p99 ` +
          `${ratio((r) => percentile(r.latencies, 99))}x`,
      );
    }
  }
  // The job-engine issue's targets, like for like: defaults against defaults, each
  // system's throughput settings against the other's.
  const named = (name: string) => summaries.find((r) => r.name === name);
  const pairs: [string, string, number][] = [
    ['Gatehouse', 'graphile-worker', 1],
    ['Gatehouse best', 'graphile-worker best', 1],
    ['Gatehouse', 'pg-boss', 3],
    ['Gatehouse best', 'pg-boss best', 3],
  ];
  console.log('\ntargets:');
  const target = (label: string, ok: boolean) => console.log(`${ok ? 'met ' : 'MISS'} ${label}`);
  for (const [mine, theirs, wanted] of pairs) {
    const a = named(mine);
    const b = named(theirs);
    if (!a || !b) continue;
    const ratio = a.drainPerSecond / b.drainPerSecond;
    target(`drain: ${mine} >= ${wanted}x ${theirs}: ${ratio.toFixed(2)}x`, ratio >= wanted);
  }
  const defaults = named('Gatehouse');
  if (defaults) {
    const p95 = percentile(defaults.latencies, 95);
    target(`Gatehouse enqueue->start p95 <= 100 ms: ${p95.toFixed(1)} ms`, p95 <= 100);
  }
  console.log('');
  for (const [system] of systems) {
    results.get(system)!.forEach((r, round) => {
      for (const [label, passed] of r.checks) {
        console.log(`${passed ? 'ok  ' : 'FAIL'} ${r.name} round ${round + 1}: ${label}`);
        if (!passed) failed = true;
      }
    });
  }
} finally {
  for (const name of created) await admin.unsafe(`drop database if exists "${name}" with (force)`);
  await admin.end();
}
if (failed) Deno.exit(1);
