/**
 * An authenticated user-API read beside the same query without auth or RLS, same run:
 *
 *   subject  GET /api/vehicles?limit=20 through the api function as deployed: the user's
 *            ES256 token verified (key from a cached JWKS), the relaxed rate-limit tier
 *            (tokens leased ten at first, then a twentieth of the bucket), and the page
 *            read as the user (the list's read function `gatehouse.vehicles_page`, one
 *            statement: it takes the role authenticated and the claims, so row-level
 *            security picks the rows, and its select keeps its plan on the connection);
 *   peer     the same route shape on the same function-app stack (request id, log line,
 *            security headers) sending that function's select (cursor column and keyset
 *            filter included) as a statement of the service role, the owner named in its
 *            own `where` where the policy would add it, no token, no settings, its page
 *            answered by the API's own `pageOf` (with `--prepare true` its plan is kept
 *            too);
 *   minimal  for reference: the least such a read can be, the same rows selected by the
 *            owner without the cursor column or the keyset filter, answered as they come.
 *
 *   npm run bench:api-read                                  # 16 concurrent, 5 s, 3 rounds
 *   npm run bench:api-read -- --prepare true                # named statements, both sides
 *   npm run bench:api-read -- --concurrency 1 --seconds 4   # latency of one at a time
 *   npm run bench:api-read -- --concurrency 32 --seconds 8 --rounds 5 --pool 10
 *   BENCH_DATABASE_URL=postgres://... npm run bench:api-read
 *
 * Requests go straight to `app.fetch` (no socket) from closed loops in this process, so the
 * numbers are the function's own cost and the database's. 1,000 users own 20 vehicles each;
 * each request names a random user. Prints req/s, p50, p99 and CPU per request (this
 * process, and the database's backends) per subject and round (alternating, each after a
 * CHECKPOINT) and the subject / peer latency ratios (the median over rounds); the target is
 * p50 and p99 at most 1.5x the peer's. Every answer must be a 200 with the user's 20
 * vehicles, or the run fails.
 */
import { join } from 'node:path';
import postgres from 'postgres';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { loadMigrationFiles, runMigrations } from '../cli/migrate.ts';
import { createApiApp } from '../functions/api/index.ts';
import { pageOf } from '../functions/api/rows.ts';
import { VEHICLES } from '../functions/api/vehicles.ts';
import { createJwksCache, createJwtVerifier } from '../functions/_shared/auth/index.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createPostgresDb } from '../functions/_shared/db/postgres.ts';
import { typed } from '../functions/_shared/db/types.ts';
import { createFunctionApp } from '../functions/_shared/http/index.ts';
import { createLogger } from '../functions/_shared/log/index.ts';
import { cpuSeconds, startCpu } from './lib/cpu.ts';

const args = new Map<string, string>();
for (let i = 0; i < Deno.args.length; i += 2) args.set(Deno.args[i]!, Deno.args[i + 1] ?? '');
const CONCURRENCY = Number(args.get('--concurrency') ?? 16);
const SECONDS = Number(args.get('--seconds') ?? 5);
const ROUNDS = Number(args.get('--rounds') ?? 3);
const POOL = Number(args.get('--pool') ?? 10);
/** Named prepared statements on the pool (GATEHOUSE_DB_PREPARE), for subject and peer. */
const PREPARE = args.get('--prepare') === 'true';
const USERS = 1_000;
const PER_USER = 20;
const ADMIN_URL = Deno.env.get('BENCH_DATABASE_URL') ??
  'postgres://postgres@127.0.0.1:5432/postgres';
const BASE = 'http://bench.local';
const ISSUER = `${BASE}/auth/v1`;
/** The columns the API's vehicle list selects. */
const COLUMNS = VEHICLES.columns;

const dbName = `gh_bench_api_${Date.now()}`;
const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
await admin.unsafe(`create database "${dbName}"`);
const url = new URL(ADMIN_URL);
url.pathname = `/${dbName}`;
let failed = false;
try {
  const db = createPostgresDb({
    url: url.toString(),
    max: POOL,
    timeoutMs: 10_000,
    prepare: PREPARE,
  });
  await runMigrations(db, await loadMigrationFiles(join(import.meta.dirname!, '../migrations')));
  const users = Array.from({ length: USERS }, () => crypto.randomUUID());
  await db.query(
    `insert into public.vehicles (owner_user_id, plate)
     select u, 'KB ' || lpad(n::text, 4, '0')
       from unnest($1::uuid[]) u, generate_series(1, $2) n`,
    [users, PER_USER],
  );
  await db.query('analyze public.vehicles');

  // The project's signing key, published through the JWKS the API caches.
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...await exportJWK(publicKey), kid: 'bench', alg: 'ES256', use: 'sig' };
  const jwks = createJwksCache({
    url: `${BASE}/auth/v1/.well-known/jwks.json`,
    fetch: () => Promise.resolve(Response.json({ keys: [jwk] })),
  });
  const now = Math.floor(Date.now() / 1000);
  const tokens = await Promise.all(users.map((sub) =>
    new SignJWT({
      iss: ISSUER,
      sub,
      aud: 'authenticated',
      role: 'authenticated',
      exp: now + 3600,
      iat: now,
      email: `${sub}@example.com`,
      app_metadata: { provider: 'email' },
    }).setProtectedHeader({ alg: 'ES256', kid: 'bench', typ: 'JWT' }).sign(privateKey)
  ));
  // Every user's requests stay far under the relaxed tier: 1,000 users, a few per second each.
  const logger = createLogger({ level: 'info', sink: () => {} });
  const config = parseConfig({ SUPABASE_URL: BASE });
  const api = createApiApp({
    config,
    db,
    logger,
    clock: systemClock,
    verifier: createJwtVerifier({ secrets: [], jwks, issuer: ISSUER }),
  });
  const bare = createFunctionApp('bare', { logger, corsOrigins: [], bodyLimitBytes: 1024 });
  // The select of the API's list (`gatehouse.vehicles_page`, first page: no cursor) sent as
  // a statement, the owner named in its `where` where the policy would add it, and the page
  // answered as the API answers it (`pageOf`: the rows copied without the cursor column,
  // timestamps as JSON strings, the next cursor), so the two differ only in the token, the
  // rate limit, the caller's settings and row-level security.
  bare.get('/vehicles/:owner', async (c) => {
    const rows = await db.query(
      `select v.id, v.owner_user_id, v.plate, v.make, v.model, v.color, v.seats, v.status,
              v.version, v.created_at, v.updated_at,
              (extract(epoch from v.created_at) * 1000000)::int8::text as created_us
         from public.vehicles v
        where v.owner_user_id = $4
          and ($1::int8 is null
               or (v.created_at, v.id)
                  < (timestamptz 'epoch' + $1::int8 * interval '1 microsecond', $2::uuid))
        order by v.created_at desc, v.id desc
        limit $3`,
      // Typed as the API's own statements are, so it too goes out in one round trip.
      [
        typed(null, 'int8'),
        typed(null, 'uuid'),
        typed(PER_USER + 1, 'int4'),
        typed(c.req.param('owner'), 'uuid'),
      ],
    );
    return c.json(pageOf(rows, PER_USER));
  });
  // The least a read can be: the same rows by the owner, no cursor column, no keyset filter.
  bare.get('/minimal/:owner', async (c) =>
    c.json({
      items: await db.query(
        `select ${COLUMNS} from public.vehicles where owner_user_id = $1
          order by created_at desc, id desc limit 21`,
        [typed(c.req.param('owner'), 'uuid')],
      ),
    }));

  const subjects = {
    'authenticated API read (subject)': (i: number) =>
      api.fetch(
        new Request(`${BASE}/api/vehicles?limit=${PER_USER}`, {
          headers: { authorization: `Bearer ${tokens[i]}` },
        }),
      ),
    'service-role query (peer)': (i: number) =>
      bare.fetch(new Request(`${BASE}/bare/vehicles/${users[i]}`)),
    'service-role minimal select': (i: number) =>
      bare.fetch(new Request(`${BASE}/bare/minimal/${users[i]}`)),
  };

  /** The backends serving this benchmark's database (its pool's connections). */
  const backends = async () =>
    (await admin.unsafe(
      `select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
      [dbName],
    )).map((row) => Number(row.pid));

  const run = async (name: keyof typeof subjects, round: number) => {
    await db.query('checkpoint');
    const latencies: number[] = [];
    const ownBefore = cpuSeconds('self');
    const postgresCpu = startCpu(await backends());
    const deadline = performance.now() + SECONDS * 1000;
    const started = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const i = Math.floor(Math.random() * USERS);
        const sent = performance.now();
        const res = await subjects[name](i);
        const body = await res.json() as { items?: { owner_user_id: string }[] };
        latencies.push(performance.now() - sent);
        const items = body.items ?? [];
        if (
          res.status !== 200 || items.length !== PER_USER ||
          items.some((item) => item.owner_user_id !== users[i])
        ) {
          failed = true;
          throw new Error(`${name}: ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
        }
      }
    }));
    const elapsed = (performance.now() - started) / 1000;
    const ownAfter = cpuSeconds('self');
    postgresCpu.stop(await backends());
    const perRequestUs = (seconds: number | null) =>
      seconds === null ? '-' : (seconds / latencies.length * 1e6).toFixed(0);
    latencies.sort((a, b) => a - b);
    const at = (q: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
    const result = { rps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99) };
    console.log(
      `round ${round}  ${name.padEnd(34)} ${result.rps.toFixed(0).padStart(6)} req/s  ` +
        `p50 ${result.p50.toFixed(2).padStart(6)} ms  p99 ${
          result.p99.toFixed(2).padStart(6)
        } ms  ` +
        `CPU/request: this process ${
          perRequestUs(ownBefore === null || ownAfter === null ? null : ownAfter - ownBefore)
        } us, Postgres ${perRequestUs(postgresCpu.seconds)} us`,
    );
    return result;
  };

  console.log(
    `api read benchmark: ${CONCURRENCY} concurrent, ${SECONDS} s per subject, ${ROUNDS} rounds, ` +
      `pool ${POOL}, ${USERS} users x ${PER_USER} vehicles`,
  );
  // Warm-up: keys fetched, statements planned, connections open.
  const names = Object.keys(subjects) as (keyof typeof subjects)[];
  for (const name of names) await run(name, 0);
  const ratios = { p50: [] as number[], p99: [] as number[] };
  const minimal = { p50: [] as number[], p99: [] as number[] };
  for (let round = 1; round <= ROUNDS; round += 1) {
    // A different order each round, so no subject always runs first or last.
    const order = names.map((_, i) => names[(i + round) % names.length]!);
    if (round % 2 === 0) order.reverse();
    const results: Record<string, { p50: number; p99: number }> = {};
    for (const name of order) results[name] = await run(name, round);
    const subject = results['authenticated API read (subject)']!;
    const peer = results['service-role query (peer)']!;
    const least = results['service-role minimal select']!;
    ratios.p50.push(subject.p50 / peer.p50);
    ratios.p99.push(subject.p99 / peer.p99);
    minimal.p50.push(subject.p50 / least.p50);
    minimal.p99.push(subject.p99 / least.p99);
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
  const verdict = (ratio: number) => (ratio <= 1.5 ? 'met' : 'NOT met');
  const line = (label: string, r: { p50: number[]; p99: number[] }) =>
    `${label}: p50 ${median(r.p50).toFixed(2)}x (rounds ${
      r.p50.map((x) => x.toFixed(2)).join(', ')
    }), p99 ${median(r.p99).toFixed(2)}x (rounds ${r.p99.map((x) => x.toFixed(2)).join(', ')})`;
  console.log(`\n${line('subject / peer latency', ratios)}`);
  console.log(
    `target <= 1.5x: p50 ${verdict(median(ratios.p50))}, p99 ${verdict(median(ratios.p99))}`,
  );
  console.log(line('subject / minimal select (for reference)', minimal));
  await db.close();
} finally {
  await admin.unsafe(`drop database if exists "${dbName}" with (force)`);
  await admin.end();
}
if (failed) Deno.exit(1);
