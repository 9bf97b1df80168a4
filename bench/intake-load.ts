/**
 * The intake benchmark's load generator, run by `bench/intake.ts` as a separate process so
 * its CPU is not charged to the servers it measures. One run drives one subject with
 * `connections` concurrent loops, each waiting for its answer before sending the next
 * request (closed loop), for a warm-up and then a measured window, and prints one JSON line:
 * `{requests, accepted, errors, seconds, p50, p99, ok, statuses}` for the measured window, `ok` and
 * `statuses` counting every request including the warm-up. It prints `{"event":"start"}`
 * and `{"event":"stop"}` around the load, and after stop keeps its connections open until
 * its stdin closes, so the parent can read the CPU of the database backends serving them.
 *
 * Subjects: `http` posts prepared WhatsApp deliveries (signed when `secret` is given) to a
 * server on loopback over keep-alive HTTP/1.1; `insert` runs single-row INSERTs through the
 * same database driver and pool size the server uses.
 */
import { createPostgresDb } from '../functions/_shared/db/postgres.ts';
import { cpuSeconds } from './lib/cpu.ts';
import { Http1Connection, postRequest } from './lib/http1.ts';
import { whatsappBody } from './lib/whatsapp.ts';
import { signWhatsApp } from '../functions/_shared/webhooks/signing.ts';

export interface LoadSpec {
  readonly subject: 'http' | 'insert';
  readonly connections: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  /** Distinct prepared requests; a subject that needs unique ones stops when they run out. */
  readonly budget: number;
  /** Tags generated message ids so runs never collide. */
  readonly run: string;
  readonly port?: number;
  readonly path?: string;
  /** WhatsApp app secret: requests carry `X-Hub-Signature-256`. */
  readonly secret?: string;
  /** Each prepared request is sent once (the run stops early if they run out). */
  readonly unique?: boolean;
  readonly databaseUrl?: string;
  readonly pool?: number;
  /** Named prepared statements for the INSERT loop's pool, as the server's pool uses them. */
  readonly prepare?: boolean;
}

export interface LoadResult {
  /** Requests answered in the measured window. */
  readonly requests: number;
  /** Of those, the ones that succeeded (a 200, or an INSERT that committed). */
  readonly accepted: number;
  readonly errors: number;
  readonly seconds: number;
  readonly p50: number;
  readonly p99: number;
  readonly ok: number;
  readonly statuses: Record<string, number>;
  readonly exhausted: boolean;
  /** New connections opened because the server closed one after answering. */
  readonly reconnects: number;
  /** Requests sent in the warm-up and the measured window together. */
  readonly sent: number;
  /** The generator's own CPU over the warm-up and the measured window (null off Linux). */
  readonly cpuSeconds: number | null;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function run(spec: LoadSpec): Promise<LoadResult> {
  const unique = spec.subject === 'insert' || spec.unique === true;
  // Prepared before the clock starts, so building requests is not part of what is measured.
  const bodies: string[] = [];
  const requests: Uint8Array[] = [];
  for (let n = 0; n < spec.budget; n += 1) {
    const body = whatsappBody(n, spec.run);
    if (spec.subject === 'insert') {
      bodies.push(body);
      continue;
    }
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      ...(spec.secret === undefined ? {} : signWhatsApp(body, spec.secret)),
    };
    requests.push(postRequest('127.0.0.1', spec.path!, headers, body));
  }

  let once: (n: number, slot: number) => Promise<boolean>;
  let cleanup = async () => {};
  const statuses: Record<string, number> = {};
  let ok = 0;
  let reconnects = 0;
  if (spec.subject === 'http') {
    const connections = await Promise.all(
      Array.from({ length: spec.connections }, () => Http1Connection.open('127.0.0.1', spec.port!)),
    );
    once = async (n, slot) => {
      let connection = connections[slot]!;
      if (!connection.reusable) {
        // As any client does when the server closes a keep-alive connection.
        connection.close();
        connection = connections[slot] = await Http1Connection.open('127.0.0.1', spec.port!);
        reconnects += 1;
      }
      const status = await connection.send(requests[n % requests.length]!);
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status !== 200) return false;
      ok += 1;
      return true;
    };
    cleanup = () => Promise.resolve(connections.forEach((c) => c.close()));
  } else {
    const db = createPostgresDb({
      url: spec.databaseUrl!,
      max: spec.pool ?? 10,
      prepare: spec.prepare ?? false,
    });
    await Promise.all(Array.from({ length: spec.pool ?? 10 }, () => db.query('select 1')));
    once = async (n) => {
      await db.query('insert into bench_raw (k, payload) values ($1, $2::jsonb)', [
        `raw-${spec.run}-${n}`,
        bodies[n % bodies.length]!,
      ]);
      ok += 1;
      return true;
    };
    cleanup = () => db.close();
  }

  let counter = 0;
  let exhausted = false;
  let measuring = false;
  let errors = 0;
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let accepted = 0;
  const record = (ms: number) => {
    if (count === latencies.length) {
      const bigger = new Float64Array(latencies.length * 2);
      bigger.set(latencies);
      latencies = bigger;
    }
    latencies[count++] = ms;
  };
  // Tells the parent when the load starts and stops, so it can read its own CPU use then.
  console.log(JSON.stringify({ event: 'start' }));
  const cpuAtStart = cpuSeconds('self');
  const start = performance.now();
  const measureFrom = start + spec.warmupSeconds * 1000;
  const deadline = measureFrom + spec.seconds * 1000;
  setTimeout(() => (measuring = true), spec.warmupSeconds * 1000);
  await Promise.all(Array.from({ length: spec.connections }, async (_, slot) => {
    for (;;) {
      const now = performance.now();
      if (now >= deadline) return;
      if (unique && counter >= spec.budget) {
        exhausted = true;
        return;
      }
      const n = counter++;
      const counted = measuring && now >= measureFrom;
      const passed = await once(n, slot).catch(() => false);
      const end = performance.now();
      if (!passed) errors += 1;
      if (counted && end <= deadline) {
        record(end - now);
        if (passed) accepted += 1;
      }
    }
  }));
  const seconds = Math.min(performance.now(), deadline) - measureFrom;
  const cpuAtEnd = cpuSeconds('self');
  console.log(JSON.stringify({ event: 'stop' }));
  // The parent reads the database backends' CPU at "stop"; the INSERT loop's backends end
  // with its pool, so the pool stays open until the parent closes our stdin.
  await Deno.stdin.readable.pipeTo(new WritableStream());
  await cleanup();
  const sorted = latencies.subarray(0, count).sort();
  return {
    requests: count,
    accepted,
    errors,
    seconds: seconds / 1000,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    ok,
    statuses,
    exhausted,
    reconnects,
    sent: counter,
    cpuSeconds: cpuAtStart === null || cpuAtEnd === null ? null : cpuAtEnd - cpuAtStart,
  };
}

if (import.meta.main) {
  const spec = JSON.parse(Deno.args[0]!) as LoadSpec;
  console.log(JSON.stringify(await run(spec)));
}
