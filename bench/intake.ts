/**
 * Intake benchmark: signed WhatsApp messages through the full webhooks path, beside
 * (a) a bare Hono handler on the same runtime (the HTTP ceiling) and (b) a raw single-row
 * INSERT loop at the same concurrency and pool size (the database ceiling), in one run.
 *
 *   npm run bench:intake                         # Postgres at 127.0.0.1:5432
 *   BENCH_DATABASE_URL=postgres://... npm run bench:intake -- --connections 64 --seconds 10
 *
 * The load generator runs in the same Deno process as the servers (loopback only), so
 * every subject pays the same client cost; read the ratios, not the absolute numbers.
 */
import { Hono } from 'hono';
import postgres from 'postgres';
import { join } from 'node:path';
import { loadMigrationFiles, runMigrations } from '../cli/migrate.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createPostgresDb } from '../functions/_shared/db/postgres.ts';
import { createLogger } from '../functions/_shared/log/index.ts';
import { createWebhooksApp } from '../functions/webhooks/index.ts';
import { hmacSha256, toHex } from '../functions/_shared/crypto/index.ts';

const args = new Map<string, string>();
for (let i = 0; i < Deno.args.length; i += 2) args.set(Deno.args[i]!, Deno.args[i + 1] ?? '');
const CONNECTIONS = Number(args.get('--connections') ?? 64);
const SECONDS = Number(args.get('--seconds') ?? 8);
const POOL_SIZE = Number(args.get('--pool') ?? 10);
const ADMIN_URL = Deno.env.get('BENCH_DATABASE_URL') ??
  'postgres://postgres@127.0.0.1:5432/postgres';
const SECRET = 'bench-app-secret';

interface Result {
  name: string;
  requests: number;
  errors: number;
  seconds: number;
  latencies: number[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `connections` loops of `once` for `seconds`, recording each call's latency. */
async function drive(name: string, once: (n: number) => Promise<boolean>): Promise<Result> {
  const latencies: number[] = [];
  let errors = 0;
  let counter = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (performance.now() < deadline) {
      const n = counter++;
      const t0 = performance.now();
      const ok = await once(n).catch(() => false);
      latencies.push(performance.now() - t0);
      if (!ok) errors += 1;
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  return {
    name,
    requests: latencies.length,
    errors,
    seconds,
    latencies: latencies.sort((a, b) => a - b),
  };
}

function serve(handler: (request: Request) => Response | Promise<Response>) {
  const { promise, resolve } = Promise.withResolvers<number>();
  const server = Deno.serve(
    { port: 0, hostname: '127.0.0.1', onListen: (a) => resolve(a.port) },
    handler,
  );
  return { port: promise, server };
}

function whatsappBody(n: number): string {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{
      id: 'WABA',
      changes: [{
        field: 'messages',
        value: {
          messaging_product: 'whatsapp',
          metadata: { display_phone_number: '15550000000', phone_number_id: 'PNID' },
          contacts: [{ wa_id: `1555${n % 5000}`, profile: { name: 'Bench' } }],
          messages: [{
            id: `wamid.bench.${n}`,
            from: `1555${n % 5000}`,
            timestamp: '1700000000',
            type: 'text',
            text: { body: `message ${n}` },
          }],
        },
      }],
    }],
  });
}

const dbName = `gh_bench_${Date.now()}`;
const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
await admin.unsafe(`create database "${dbName}"`);
const url = new URL(ADMIN_URL);
url.pathname = `/${dbName}`;
const db = createPostgresDb({ url: url.toString(), max: POOL_SIZE });

try {
  await runMigrations(db, await loadMigrationFiles(join(import.meta.dirname!, '../migrations')));
  await db.exec('create table bench_raw (id bigserial primary key, k text unique, payload jsonb)');

  // Pre-sign enough bodies that signing is not part of what is measured.
  const budget = CONNECTIONS * SECONDS * 2_000;
  console.log(`signing ${budget} deliveries...`);
  const bodies: string[] = [];
  const signatures: string[] = [];
  for (let n = 0; n < budget; n += 1) {
    const body = whatsappBody(n);
    bodies.push(body);
    signatures.push(`sha256=${toHex(await hmacSha256(SECRET, body))}`);
  }

  // The ceiling reads the body too, as any webhook handler must.
  const bare = new Hono().post('/x', async (c) => {
    await c.req.arrayBuffer();
    return c.json({ status: 'accepted' });
  });
  const unlimited = { capacity: 1_000_000_000, refillPerSecond: 1_000_000_000 };
  const full = createWebhooksApp({
    config: parseConfig({ WHATSAPP_APP_SECRET: SECRET }),
    db,
    logger: createLogger({ level: 'error' }),
    clock: systemClock,
    fetch,
    limits: { whatsappPerNumber: unlimited, whatsappPerSender: unlimited, perProvider: unlimited },
  });
  const bareServer = serve(bare.fetch);
  const fullServer = serve((request) => {
    const target = new URL(request.url);
    target.pathname = target.pathname.replace('/functions/v1', '');
    return full.fetch(new Request(target, request));
  });
  const barePort = await bareServer.port;
  const fullPort = await fullServer.port;

  const results: Result[] = [];
  results.push(
    await drive('bare Hono handler (HTTP ceiling)', async (n) => {
      const res = await fetch(`http://127.0.0.1:${barePort}/x`, {
        method: 'POST',
        body: bodies[n],
      });
      await res.body?.cancel();
      return res.status === 200;
    }),
  );
  results.push(
    await drive('raw single-row INSERT (database ceiling)', async (n) => {
      await db.query('insert into bench_raw (k, payload) values ($1, $2::jsonb)', [
        `raw-${n}`,
        bodies[n],
      ]);
      return true;
    }),
  );
  results.push(
    await drive('full intake path (verify + ingest + enqueue)', async (n) => {
      const res = await fetch(`http://127.0.0.1:${fullPort}/functions/v1/webhooks/whatsapp`, {
        method: 'POST',
        body: bodies[n],
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signatures[n]! },
      });
      await res.body?.cancel();
      return res.status === 200;
    }),
  );

  const [http, raw, path] = results as [Result, Result, Result];
  const rate = (r: Result) => r.requests / r.seconds;
  console.log(
    `\nintake benchmark: ${CONNECTIONS} connections, ${SECONDS} s each, pool ${POOL_SIZE}\n`,
  );
  console.log(
    'subject'.padEnd(46) + 'req/s'.padStart(10) + 'p50 ms'.padStart(9) + 'p99 ms'.padStart(9) +
      'errors'.padStart(8),
  );
  for (const r of results) {
    console.log(
      r.name.padEnd(46) + rate(r).toFixed(0).padStart(10) +
        percentile(r.latencies, 50).toFixed(1).padStart(9) +
        percentile(r.latencies, 99).toFixed(1).padStart(9) + String(r.errors).padStart(8),
    );
  }
  const [stored] = await db.query<{ events: number; jobs: number }>(
    `select (select count(*) from inbound_events)::int as events, (select count(*) from jobs)::int as jobs`,
  );
  console.log(`\nfull path / raw INSERT ceiling: ${(rate(path) / rate(raw)).toFixed(2)}x`);
  console.log(`full path / bare HTTP ceiling:  ${(rate(path) / rate(http)).toFixed(2)}x`);
  console.log(
    `stored: ${stored!.events} events, ${stored!.jobs} jobs (expected ${
      path.requests - path.errors
    } each)`,
  );
  await bareServer.server.shutdown();
  await fullServer.server.shutdown();
} finally {
  await db.close();
  await admin.unsafe(`drop database if exists "${dbName}" with (force)`);
  await admin.end();
}
