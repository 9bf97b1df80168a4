/**
 * Intake's database call for a commit that carries many groups (WhatsApp numbers): one
 * set-based `ingest_event_groups` call beside its peer, `ingest_events` once per group in
 * one statement (`union all`, what intake sent before), on the same batches. One connection,
 * calls one after the other, each its own commit, as intake's group commit sends them.
 *
 *   npm run bench:ingest-groups                               # 32 groups of 1 event
 *   npm run bench:ingest-groups -- --groups 8 --events 4 --calls 1000 --rounds 3
 *   BENCH_DATABASE_URL=postgres://... npm run bench:ingest-groups
 *
 * Prints, per subject and round, calls per second, wall and Postgres backend CPU (from
 * /proc, same host only) per event, and the peer / subject ratio of backend CPU per event
 * (the median over rounds); the subjects alternate and each round starts after a CHECKPOINT.
 * Every event must be accepted with one job, or the run fails.
 */
import postgres from 'postgres';
import { join } from 'node:path';
import { loadMigrationFiles, runMigrations } from '../cli/migrate.ts';
import { createPostgresDb } from '../functions/_shared/db/postgres.ts';
import { cpuSeconds } from './lib/cpu.ts';

const args = new Map<string, string>();
for (let i = 0; i < Deno.args.length; i += 2) args.set(Deno.args[i]!, Deno.args[i + 1] ?? '');
const GROUPS = Number(args.get('--groups') ?? 32);
const EVENTS = Number(args.get('--events') ?? 1);
const CALLS = Number(args.get('--calls') ?? 1_000);
const ROUNDS = Number(args.get('--rounds') ?? 3);
const ADMIN_URL = Deno.env.get('BENCH_DATABASE_URL') ??
  'postgres://postgres@127.0.0.1:5432/postgres';
const RUN = String(Date.now());

const UNLIMITED = { capacity: 1_000_000_000, refill_per_second: 1_000_000_000 };
/** As WhatsApp's module sends them: a bucket per number, a bucket per sender. */
const limitsOf = (number: number) => ({
  global: { key: `whatsapp:number:${RUN}:${number}`, ...UNLIMITED },
  sender: UNLIMITED,
});

function batch(subject: string, round: number, call: number) {
  return Array.from({ length: GROUPS }, (_, number) => ({
    provider: 'whatsapp',
    limits: limitsOf(number),
    events: Array.from({ length: EVENTS }, (_, slot) => ({
      slot,
      key: `wamid.${subject}.${round}.${call}.${number}.${slot}`,
      type: 'message',
      kind: 'whatsapp.message',
      sender: `+2507${String((call * GROUPS + number) % 10_000).padStart(8, '0')}`,
      payload: { from: '250700000000', id: `${call}.${number}.${slot}`, text: { body: 'hi' } },
      request_id: `req-${call}`,
    })),
  }));
}

const perGroup = Array.from(
  { length: GROUPS },
  (_, i) =>
    `select ${i} as part, r.* from public.ingest_events($${3 * i + 1}, $${3 * i + 2}::jsonb, $${
      3 * i + 3
    }::jsonb) r`,
).join(' union all ');

type Groups = ReturnType<typeof batch>;
const SUBJECTS: Record<string, (sql: postgres.Sql, groups: Groups) => Promise<postgres.Row[]>> = {
  'ingest_events per group (peer)': (sql, groups) =>
    sql.unsafe(
      perGroup,
      groups.flatMap((g) => [g.provider, g.events, g.limits]) as postgres.ParameterOrJSON<never>[],
    ),
  'ingest_event_groups (subject)': (sql, groups) =>
    sql.unsafe('select * from public.ingest_event_groups($1::jsonb)', [
      groups as unknown as postgres.ParameterOrJSON<never>,
    ]),
};

const dbName = `gh_bench_groups_${RUN}`;
const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
await admin.unsafe(`create database "${dbName}"`);
const url = new URL(ADMIN_URL);
url.pathname = `/${dbName}`;
let failed = false;
try {
  const migrator = createPostgresDb({ url: url.toString(), max: 1 });
  await runMigrations(
    migrator,
    await loadMigrationFiles(join(import.meta.dirname!, '../migrations')),
  );
  await migrator.close();
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  const [backend] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
  const pid = backend!.pid;
  console.log(
    `ingest groups benchmark: ${GROUPS} groups x ${EVENTS} event(s) per call, ${CALLS} calls, ` +
      `${ROUNDS} rounds, one connection`,
  );
  console.log(
    'subject'.padEnd(34) + 'round'.padStart(6) + 'calls/s'.padStart(9) +
      'wall µs/event'.padStart(15) + 'db CPU µs/event'.padStart(17),
  );
  const cpuPerEvent: Record<string, number[]> = {};
  for (let round = 1; round <= ROUNDS; round += 1) {
    const order = Object.keys(SUBJECTS);
    if (round % 2 === 0) order.reverse();
    for (const name of order) {
      await sql`checkpoint`;
      const subject = SUBJECTS[name]!;
      // Each subject's own keys: every event is new.
      const tag = `s${Object.keys(SUBJECTS).indexOf(name)}`;
      // Warm-up: plans cached, buckets created.
      for (let call = 0; call < 20; call += 1) {
        await subject(sql, batch(`${tag}w`, round, call));
      }
      const cpuBefore = cpuSeconds(pid);
      const started = performance.now();
      let rows = 0;
      let accepted = 0;
      for (let call = 0; call < CALLS; call += 1) {
        const answer = await subject(sql, batch(tag, round, call));
        rows += answer.length;
        accepted += answer.filter((row) => row.outcome === 'accepted' && row.job_id !== null)
          .length;
      }
      const seconds = (performance.now() - started) / 1000;
      const cpuAfter = cpuSeconds(pid);
      const events = CALLS * GROUPS * EVENTS;
      if (rows !== events || accepted !== events) {
        failed = true;
        console.log(`FAIL ${name}: ${accepted} of ${events} events accepted with a job`);
      }
      const cpu = cpuBefore === null || cpuAfter === null
        ? null
        : ((cpuAfter - cpuBefore) / events) * 1e6;
      if (cpu !== null) (cpuPerEvent[name] ??= []).push(cpu);
      console.log(
        name.padEnd(34) + String(round).padStart(6) + (CALLS / seconds).toFixed(0).padStart(9) +
          ((seconds / events) * 1e6).toFixed(1).padStart(15) +
          (cpu === null ? '–' : cpu.toFixed(1)).padStart(17),
      );
    }
  }
  const [peer, subject] = Object.keys(SUBJECTS).map((name) => cpuPerEvent[name] ?? []);
  if (peer!.length === ROUNDS && subject!.length === ROUNDS) {
    const ratios = peer!.map((p, i) => p / subject![i]!).sort((a, b) => a - b);
    const median = ratios[Math.floor(ratios.length / 2)]!;
    console.log(
      `\npeer / subject, Postgres CPU per event: ${median.toFixed(2)}x ` +
        `(rounds: ${ratios.map((r) => r.toFixed(2)).join(', ')})`,
    );
  } else {
    console.log('\nPostgres backend CPU not readable (another host?): compare the wall times');
  }
  await sql.end();
} finally {
  await admin.unsafe(`drop database if exists "${dbName}" with (force)`);
  await admin.end();
}
if (failed) Deno.exit(1);
