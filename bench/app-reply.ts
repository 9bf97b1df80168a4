/**
 * The reference app's reply benchmark: a signed WhatsApp "hi" from a new user, through
 * intake, the kick of the job worker, the bot's processor and the `whatsapp.send` job, to
 * the menu arriving at a local Graph API stub. Open-loop load (each conversation started
 * on schedule, whatever the earlier ones are doing) at 10 and at 200 conversations per
 * second; beside each, the ack alone (the intake's answer to the same request), so the
 * ratio shows what the reply path adds.
 *
 *   npm run bench:app-reply                       # Postgres at 127.0.0.1:5432
 *   npm run bench:app-reply -- --seconds 20 --rates 10,50,200
 *   npm run bench:app-reply -- --prepare true    # named statements (direct or session connection)
 *
 * The server runs in this process as the local server runs it (the functions mounted and
 * served with Deno.serve, the worker kicked after every ack and swept every second). The
 * intake's per-number limit (1,000 a minute by default) is lifted, as the intake benchmark
 * lifts it: 200 conversations a second all reach one business number.
 */
import postgres from 'postgres';
import { join } from 'node:path';
import { app as referenceApp } from '../functions/_app/index.ts';
import { closeOcrEngine } from '../functions/_app/ocr/index.ts';
import { loadMigrationFiles, runMigrations } from '../cli/migrate.ts';
import { createLocalRouter } from '../cli/local-router.ts';
import { serveWithDeno } from '../cli/deno/serve.ts';
import { startScheduler } from '../cli/scheduler.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createPostgresDb } from '../functions/_shared/db/postgres.ts';
import { createJobRunner } from '../functions/_shared/jobs/index.ts';
import { createLogger } from '../functions/_shared/log/index.ts';
import { openPools } from '../functions/_shared/runtime/pools.ts';
import { signWhatsApp } from '../functions/_shared/webhooks/signing.ts';
import { whatsappDelivery } from '../functions/_shared/webhooks/whatsapp/notification.ts';
import { kickWorker } from '../functions/webhooks/after-ack.ts';
import { createWebhooksApp } from '../functions/webhooks/index.ts';

const args = new Map<string, string>();
for (let i = 0; i < Deno.args.length; i += 2) args.set(Deno.args[i]!, Deno.args[i + 1] ?? '');
const SECONDS = Number(args.get('--seconds') ?? 10);
const RATES = (args.get('--rates') ?? '10,200').split(',').map(Number);
/**
 * `--prepare true|false`: named prepared statements on or off (GATEHOUSE_DB_PREPARE); unset,
 * the server's default (off).
 */
const PREPARE = args.get('--prepare');
if (PREPARE !== undefined && PREPARE !== 'true' && PREPARE !== 'false') {
  console.error(`--prepare takes true or false, got ${PREPARE}`);
  Deno.exit(2);
}
/** How long after the last conversation started its replies may still come. */
const DRAIN_MS = 15_000;
/** The bot's target (issue: "sent within 3 s end to end; p95 ≤ 300 ms locally"). */
const TARGET_P95_MS = 300;
const ADMIN_URL = Deno.env.get('BENCH_DATABASE_URL') ??
  'postgres://postgres@127.0.0.1:5432/postgres';
const SECRET = 'bench-reply-secret';
const TOKEN = 'bench-graph-token';

// The Graph API stub: answers like Meta and notes when each reply arrived.
const replies = new Map<string, number>();
let sentByBot = 0;
const graph = Deno.serve({ port: 0, hostname: '127.0.0.1', onListen: () => {} }, async (req) => {
  if (req.headers.get('authorization') !== `Bearer ${TOKEN}`) {
    return Response.json({ error: { code: 190, message: 'Invalid OAuth access token' } }, {
      status: 401,
    });
  }
  const body = await req.json() as { to: string; context?: { message_id?: string } };
  sentByBot += 1;
  const answered = body.context?.message_id;
  if (answered) replies.set(answered, performance.now());
  return Response.json({
    messaging_product: 'whatsapp',
    contacts: [{ input: body.to, wa_id: body.to }],
    messages: [{ id: `wamid.OUT${sentByBot}` }],
  });
});

const dbName = `bench_reply_${Date.now()}`;
const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
await admin.unsafe(`create database "${dbName}"`);
const url = new URL(ADMIN_URL);
url.pathname = `/${dbName}`;
const config = parseConfig({
  WHATSAPP_APP_SECRET: SECRET,
  WHATSAPP_ACCESS_TOKEN: TOKEN,
  WHATSAPP_PHONE_NUMBER_ID: 'PNID-BENCH',
  WHATSAPP_GRAPH_URL: `http://127.0.0.1:${graph.addr.port}/v21.0`,
  DATABASE_URL: url.toString(),
  ...(PREPARE ? { GATEHOUSE_DB_PREPARE: PREPARE } : {}),
});
const adminDb = createPostgresDb({ url: url.toString(), max: 2 });
const pools = openPools(url.toString(), config.database);
const logger = createLogger({ level: 'error', sink: () => {} });
let failed = false;

try {
  await runMigrations(
    adminDb,
    await loadMigrationFiles(join(import.meta.dirname!, '../migrations')),
  );
  const deps = {
    config,
    db: pools.db,
    jobsDb: pools.jobsDb,
    logger,
    clock: systemClock,
    fetch,
    app: referenceApp,
  };
  const runner = createJobRunner(deps);
  const scheduler = startScheduler({ runner, intervalMs: 1_000, logger });
  const unlimited = { capacity: 1_000_000_000, refillPerSecond: 1_000_000_000 };
  const webhooks = createWebhooksApp({
    ...deps,
    background: (task) => void task.catch(() => {}),
    afterAck: kickWorker(runner.kick),
    limits: { whatsappPerNumber: unlimited, whatsappPerSender: unlimited, perProvider: unlimited },
  });
  const notFound = { fetch: () => new Response('not found', { status: 404 }) };
  const server = await serveWithDeno(
    { port: 0, hostname: '127.0.0.1' },
    createLocalRouter({ functions: { webhooks }, web: notFound, notFound }),
  );
  const endpoint = `http://127.0.0.1:${server.port}/functions/v1/webhooks/whatsapp`;

  let serial = 0;
  const hi = () => {
    serial += 1;
    const from = `2547${String(10_000_000 + serial)}`;
    const wamid = `wamid.BENCH${serial}`;
    const body = whatsappDelivery({
      phoneNumberId: 'PNID-BENCH',
      contacts: [{ wa_id: from, profile: { name: 'Bench' } }],
      messages: [{ id: wamid, from, timestamp: '1700000000', type: 'text', text: { body: 'hi' } }],
    });
    return {
      wamid,
      body,
      headers: { 'content-type': 'application/json', ...signWhatsApp(body, SECRET) },
    };
  };

  const pct = (sorted: number[], p: number) =>
    sorted.length === 0
      ? NaN
      : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
  const rows: string[] = [];
  // Warm-up: a few conversations, so the first measured ones do not pay for compilation.
  for (let i = 0; i < 20; i++) {
    const m = hi();
    await (await fetch(endpoint, { method: 'POST', body: m.body, headers: m.headers })).body
      ?.cancel();
  }

  for (const rate of RATES) {
    const started: { wamid: string; at: number; ackMs: number | null; status: number }[] = [];
    const total = rate * SECONDS;
    const t0 = performance.now();
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const m = hi();
      const entry = {
        wamid: m.wamid,
        at: performance.now(),
        ackMs: null as number | null,
        status: 0,
      };
      started.push(entry);
      inFlight.push(
        fetch(endpoint, { method: 'POST', body: m.body, headers: m.headers }).then(async (res) => {
          await res.body?.cancel();
          entry.status = res.status;
          entry.ackMs = performance.now() - entry.at;
        }, () => {
          entry.status = -1;
        }),
      );
    }
    await Promise.all(inFlight);
    const deadline = performance.now() + DRAIN_MS;
    while (performance.now() < deadline && started.some((s) => !replies.has(s.wamid))) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const replyMs = started.filter((s) => replies.has(s.wamid)).map((s) =>
      replies.get(s.wamid)! - s.at
    )
      .sort((a, b) => a - b);
    const ackMs = started.filter((s) => s.ackMs !== null).map((s) => s.ackMs!).sort((a, b) =>
      a - b
    );
    const errors = started.filter((s) => s.status !== 200).length;
    const missing = started.length - replyMs.length;
    const p95 = pct(replyMs, 0.95);
    rows.push(
      `${String(rate).padStart(6)}/s ${String(started.length).padStart(7)} ` +
        `${pct(ackMs, 0.5).toFixed(1).padStart(8)} ${pct(ackMs, 0.99).toFixed(1).padStart(8)} ` +
        `${pct(replyMs, 0.5).toFixed(1).padStart(9)} ${p95.toFixed(1).padStart(9)} ` +
        `${pct(replyMs, 0.99).toFixed(1).padStart(9)} ` +
        `${(pct(replyMs, 0.5) / pct(ackMs, 0.5)).toFixed(1).padStart(7)}x ` +
        `${String(errors).padStart(6)} ${String(missing).padStart(8)}  ` +
        `${p95 <= TARGET_P95_MS && missing === 0 && errors === 0 ? 'met' : 'not met'}`,
    );
    if (missing > 0 || errors > 0) failed = true;
  }
  await scheduler.stop();
  await server.shutdown();

  console.log(
    `\n"hi" → menu reply benchmark: ${SECONDS} s per rate, open-loop, new user per conversation, ` +
      `prepared statements ${config.database.prepare ? 'on' : 'off'}\n`,
  );
  console.log(
    '  rate    convs   ack p50  ack p99  reply p50  reply p95  reply p99  p50 ratio ' +
      'errors  missing  target (reply p95 ≤ 300 ms, none missing)',
  );
  for (const row of rows) console.log(row);
  const [stored] = await adminDb.query<{ conversations: number; sent: number }>(
    `select (select count(*) from public.whatsapp_conversations)::int as conversations,
            (select count(*) from public.whatsapp_logs where direction = 'outbound')::int as sent`,
  );
  console.log(
    `\n${stored!.conversations} conversations stored, ${stored!.sent} replies logged, ` +
      `${sentByBot} received by the stub`,
  );
} finally {
  await closeOcrEngine();
  await pools.close();
  await adminDb.close();
  await admin.unsafe(`drop database if exists "${dbName}" with (force)`);
  await admin.end();
  await graph.shutdown();
}
if (failed) Deno.exit(1);
