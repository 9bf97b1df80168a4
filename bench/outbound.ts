/**
 * Outbound webhook benchmark: events emitted in transactions, fanned out to local endpoints
 * and delivered (signed, through the SSRF guard and pinned client) by the job engine as
 * `npm start` runs it (10 job slots, a sweep every second, a kick after each commit that
 * emitted), beside the same load through the job engine with no HTTP (a transport that
 * answers 200 at once: the ceiling of everything but the network).
 *
 *   npm run bench:outbound                      # Postgres at 127.0.0.1:5432
 *   npm run bench:outbound -- --events 10000 --endpoints 5 --rate 50 --seconds 20
 *   npm run bench:outbound -- --phase steady --subject http   # one phase, one subject
 *
 * 1. fan-out: `--events` events emitted 100 per transaction as fast as they commit, each to
 *    every endpoint; deliveries/s = deliveries / time from the first emit to the last 2xx.
 * 2. steady: `--rate` events a second for `--seconds`, one per transaction (open loop);
 *    event → 2xx = arrival at the endpoint − the event's commit. Target: p99 ≤ 1 s.
 * Each phase runs against the HTTP endpoints and against the ceiling, in a database of its
 * own; the ratio is HTTP / ceiling.
 */
import postgres from 'postgres';
import { join } from 'node:path';
import { loadMigrationFiles, runMigrations } from '../cli/migrate.ts';
import { startScheduler } from '../cli/scheduler.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createPostgresDb } from '../functions/_shared/db/postgres.ts';
import { createJobRegistry, createJobRunner } from '../functions/_shared/jobs/index.ts';
import { createLogger } from '../functions/_shared/log/index.ts';
import {
  createSecretBox,
  type DeliveryTransport,
  emitEvent,
  outboundDelivery,
} from '../functions/_shared/outbound/index.ts';
import { createEndpoint } from '../functions/_shared/outbound/endpoints.ts';
import { openPools } from '../functions/_shared/runtime/pools.ts';

const args = new Map<string, string>();
for (let i = 0; i < Deno.args.length; i += 2) args.set(Deno.args[i]!, Deno.args[i + 1] ?? '');
const EVENTS = Number(args.get('--events') ?? 10_000);
const ENDPOINTS = Number(args.get('--endpoints') ?? 5);
const RATE = Number(args.get('--rate') ?? 50);
const SECONDS = Number(args.get('--seconds') ?? 20);
/** `fanout`, `steady` or `both`; `http`, `ceiling` or `both`. */
const PHASES = args.get('--phase') ?? 'both';
/** Job slots and claim batch (`GATEHOUSE_WORKER_CONCURRENCY`, `_BATCH_SIZE`); npm start's unless given. */
const WORKER_ENV: Record<string, string> = {
  ...(args.has('--concurrency')
    ? { GATEHOUSE_WORKER_CONCURRENCY: args.get('--concurrency')! }
    : {}),
  ...(args.has('--batch') ? { GATEHOUSE_WORKER_BATCH_SIZE: args.get('--batch')! } : {}),
};
const SUBJECTS = args.get('--subject') ?? 'both';
const TARGET_P99_MS = 1_000;
const ADMIN_URL = Deno.env.get('BENCH_DATABASE_URL') ??
  'postgres://postgres@127.0.0.1:5432/postgres';
const KEY = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));

/** Arrivals by `webhook-id`, then endpoint: performance.now() at the endpoint. */
const arrivals = new Map<string, number[]>();
const arrive = (id: string) => {
  const list = arrivals.get(id);
  if (list) list.push(performance.now());
  else arrivals.set(id, [performance.now()]);
};

const servers = Array.from(
  { length: ENDPOINTS },
  () =>
    Deno.serve({ port: 0, hostname: '127.0.0.1', onListen: () => {} }, async (req) => {
      await req.body?.cancel();
      arrive(req.headers.get('webhook-id') ?? '');
      return new Response('ok');
    }),
);

/** The ceiling: the delivery job's database work with an endpoint that answers at once. */
const noHttp: DeliveryTransport = (_url, request) => {
  arrive(request.headers['webhook-id']!);
  return Promise.resolve({ status: 200, headers: new Headers(), excerpt: 'ok' });
};

const pct = (sorted: number[], p: number) =>
  sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;

interface PhaseResult {
  deliveries: number;
  expected: number;
  seconds: number;
  latencies: number[];
}

const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });

async function phase(
  name: string,
  transport: DeliveryTransport | null,
  emitAll: (emit: (n: number) => Promise<void>) => Promise<void>,
  events: number,
): Promise<PhaseResult> {
  const dbName = `bench_outbound_${Date.now()}`;
  await admin.unsafe(`create database "${dbName}"`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  const config = parseConfig({ GATEHOUSE_ENCRYPTION_KEY: KEY, ...WORKER_ENV });
  const adminDb = createPostgresDb({ url: url.toString(), max: 2 });
  const pools = openPools(url.toString(), config.database);
  const logger = createLogger({ level: 'error', sink: () => {} });
  arrivals.clear();
  try {
    await runMigrations(
      adminDb,
      await loadMigrationFiles(join(import.meta.dirname!, '../migrations')),
    );
    const box = createSecretBox(config.outbound.encryptionKeys);
    for (const server of servers) {
      await createEndpoint(adminDb, {
        url: `http://127.0.0.1:${server.addr.port}/hook`,
        eventTypes: ['ride.*'],
        maxInFlight: 8,
      }, box);
    }
    const outbound = outboundDelivery({
      config: config.outbound,
      db: pools.jobsDb,
      clock: systemClock,
      ...(transport ? { transport } : {}),
    });
    const runner = createJobRunner({
      config,
      db: pools.db,
      jobsDb: pools.jobsDb,
      logger,
      clock: systemClock,
      registry: createJobRegistry({ retentionDays: 7, outbound }),
    });
    const scheduler = startScheduler({ runner, intervalMs: 1_000, logger });
    const committed = new Map<string, number>();
    const emit = async (n: number) => {
      const ids = await pools.db.transaction(async (tx) => {
        const made: number[] = [];
        for (let i = 0; i < n; i++) {
          made.push(await emitEvent(tx, 'ride.updated', { ride: crypto.randomUUID(), i }));
        }
        return made;
      });
      const at = performance.now();
      const rows = await pools.db.query<{ message_id: string }>(
        'select message_id from outbound_events where id = any($1::int8[])',
        [ids],
      );
      for (const row of rows) committed.set(row.message_id, at);
      void runner.kick();
    };
    const t0 = performance.now();
    await emitAll(emit);
    const expected = events * ENDPOINTS;
    const deadline = performance.now() + 300_000;
    let delivered = 0;
    while (performance.now() < deadline) {
      delivered = [...arrivals.values()].reduce((sum, list) => sum + list.length, 0);
      if (delivered >= expected) break;
      await new Promise((next) => setTimeout(next, 20));
    }
    const last = Math.max(...[...arrivals.values()].flat());
    await scheduler.stop();
    const latencies: number[] = [];
    for (const [id, list] of arrivals) {
      const at = committed.get(id);
      if (at !== undefined) { for (const arrived of list) latencies.push(arrived - at); }
    }
    latencies.sort((a, b) => a - b);
    console.error(`  ${name}: ${delivered} of ${expected} deliveries`);
    return { deliveries: delivered, expected, seconds: (last - t0) / 1000, latencies };
  } finally {
    await pools.close();
    await adminDb.close();
    await admin.unsafe(`drop database if exists "${dbName}" with (force)`);
  }
}

const burst = (emit: (n: number) => Promise<void>) =>
  (async () => {
    for (let done = 0; done < EVENTS; done += 100) await emit(Math.min(100, EVENTS - done));
  })();
const steady = (emit: (n: number) => Promise<void>) =>
  (async () => {
    const t0 = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < RATE * SECONDS; i++) {
      const wait = t0 + (i * 1000) / RATE - performance.now();
      if (wait > 0) await new Promise((next) => setTimeout(next, wait));
      pending.push(emit(1));
    }
    await Promise.all(pending);
  })();

let failed = false;
try {
  const rows: string[] = [];
  const line = (
    label: string,
    http: PhaseResult | null,
    ceiling: PhaseResult | null,
    target: boolean,
  ) => {
    const rate = (r: PhaseResult) => r.deliveries / r.seconds;
    const cell = (r: PhaseResult | null) =>
      r === null
        ? '–'.padEnd(40)
        : `${rate(r).toFixed(0).padStart(7)}/s  p50 ${
          pct(r.latencies, 0.5).toFixed(0).padStart(6)
        } ms` +
          `  p99 ${pct(r.latencies, 0.99).toFixed(0).padStart(6)} ms`;
    const ratio = http && ceiling ? `${(rate(http) / rate(ceiling)).toFixed(2)}x` : '–';
    const p99 = http ? pct(http.latencies, 0.99) : NaN;
    rows.push(
      `${label.padEnd(26)} ${cell(http)}   ${cell(ceiling)}   ${ratio}${
        target && http
          ? `   target p99 ≤ ${TARGET_P99_MS} ms: ${p99 <= TARGET_P99_MS ? 'met' : 'not met'}`
          : ''
      }`,
    );
    for (const r of [http, ceiling]) if (r && r.deliveries < r.expected) failed = true;
  };
  const run = async (label: string, emitAll: typeof burst, events: number, target: boolean) => {
    console.error(label);
    const http = SUBJECTS === 'ceiling' ? null : await phase('http', null, emitAll, events);
    const ceiling = SUBJECTS === 'http' ? null : await phase('no http', noHttp, emitAll, events);
    line(label, http, ceiling, target);
  };
  if (PHASES !== 'steady') await run(`fan-out ${EVENTS} × ${ENDPOINTS}`, burst, EVENTS, false);
  if (PHASES !== 'fanout') {
    await run(`steady ${RATE}/s × ${ENDPOINTS} for ${SECONDS} s`, steady, RATE * SECONDS, true);
  }
  console.log(
    `\nOutbound webhooks: ${ENDPOINTS} local endpoints, event → 2xx (from the emitting commit)\n`,
  );
  console.log(
    `${'phase'.padEnd(26)} ${'HTTP endpoints'.padEnd(40)} ${'no HTTP (ceiling)'.padEnd(40)} ratio`,
  );
  for (const row of rows) console.log(row);
} finally {
  for (const server of servers) await server.shutdown();
  await admin.end();
}
if (failed) {
  console.log('\nsome deliveries did not arrive');
  Deno.exit(1);
}
