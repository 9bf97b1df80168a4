/**
 * The fault suite's load generator, run by `tests/faults/support/load.ts` as a process of its
 * own so its CPU and memory never count as the server's:
 *
 *   deno run --allow-all --config deno.json tests/faults/load-generator/main.ts '<LoadSpec>'
 *
 * It sends deliveries to a loopback server in a closed or open loop until its duration or
 * request budget ends, SIGTERM arrives or stdin closes; then lets in-flight requests finish
 * (up to `drainMs`) and exits 0. Every request's outcome goes to `outFile` as one JSON line
 * (a `LoadRecord`); stdout carries `started`, `progress` (every 100 ms) and `done` lines.
 */
import { deliveryBuilder, deliveryPath } from '../support/deliveries.ts';
import type { GeneratorEvent, LoadProgress, LoadRecord, LoadSpec } from '../support/load-spec.ts';
import { type Answer, HttpConnection, requestHead } from './http.ts';

const PROGRESS_EVERY_MS = 100;
const FLUSH_BYTES = 256 * 1024;

const spec = JSON.parse(Deno.args[0] ?? '') as LoadSpec;
const base = new URL(spec.baseUrl);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(base.hostname)) {
  throw new Error(`the load generator sends to loopback only, not ${base.hostname}`);
}
const hostname = base.hostname === 'localhost' ? '127.0.0.1' : base.hostname.replace(/[[\]]/g, '');
const port = Number(base.port || 80);
const path = deliveryPath(spec);
const build = deliveryBuilder(spec);
const chunked = spec.traffic.kind === 'unsigned-big' && spec.traffic.transfer === 'chunked';
const EMPTY = new Uint8Array(0);
const PREBUILD_MAX_BYTES = 192 * 1024 * 1024;

/** What `send` writes: the head, and the body after it (empty when the head holds both). */
interface Request {
  readonly key: string;
  readonly head: Uint8Array;
  readonly body: Uint8Array;
}

/** Builds and signs request `n` now. */
function buildRequest(n: number): Request {
  const delivery = build(n);
  const head = requestHead(
    base.host,
    'POST',
    path,
    delivery.headers,
    chunked ? null : delivery.body.length,
  );
  return { key: delivery.key, head, body: delivery.body };
}

/**
 * An open loop's signed requests, built before it starts: whole requests in one buffer (no
 * garbage for the collector to walk) and their keys. Building and signing cost the
 * generator about a fifth of its CPU at 6,000 requests a second, which left it too little
 * headroom to measure the server's latency rather than its own. Requests past the end of
 * the buffer are built as they go.
 */
function prebuild(): { bytes: Uint8Array; ends: Uint32Array; keys: string[] } {
  const loop = spec.loop;
  const none = { bytes: EMPTY, ends: new Uint32Array(0), keys: [] };
  if (loop.kind !== 'open' || spec.durationMs === undefined) return none;
  if (spec.traffic.kind !== 'signed' || spec.traffic.duplicate) return none;
  const seconds = (spec.durationMs + (loop.rampMs ?? 0) / 2) / 1000;
  const wanted = Math.min(spec.maxRequests ?? Infinity, Math.ceil(loop.rate * seconds * 1.1) + 64);
  const parts: Uint8Array[] = [];
  const keys: string[] = [];
  let total = 0;
  for (let n = 0; n < wanted; n += 1) {
    const { key, head, body } = buildRequest(n);
    if (total + head.length + body.length > PREBUILD_MAX_BYTES) break;
    parts.push(head, body);
    keys.push(key);
    total += head.length + body.length;
  }
  const bytes = new Uint8Array(total);
  const ends = new Uint32Array(keys.length);
  let at = 0;
  for (let i = 0; i < parts.length; i += 1) {
    bytes.set(parts[i]!, at);
    at += parts[i]!.length;
    if (i % 2 === 1) ends[(i - 1) / 2] = at;
  }
  return { bytes, ends, keys };
}
const prebuilt = prebuild();

function request(n: number): Request {
  if (n >= prebuilt.keys.length) return buildRequest(n);
  const from = n === 0 ? 0 : prebuilt.ends[n - 1]!;
  return {
    key: prebuilt.keys[n]!,
    head: prebuilt.bytes.subarray(from, prebuilt.ends[n]),
    body: EMPTY,
  };
}
const timeoutMs = spec.timeoutMs ?? 15_000;
const drainMs = spec.drainMs ?? 5_000;
const errorPauseMs = spec.errorPauseMs ?? 20;

// --- outcomes: buffered JSON lines, written synchronously so a flush is never interleaved.
const out = Deno.openSync(spec.outFile, { write: true, create: true, truncate: true });
const encoder = new TextEncoder();
let pending = '';
function flush(): void {
  const bytes = encoder.encode(pending);
  pending = '';
  for (let at = 0; at < bytes.length;) at += out.writeSync(bytes.subarray(at));
}

const counts: Record<string, number> = {};
let sent = 0;
let finished = 0;
let skipped = 0;
let lastOkAt: number | null = null;
const epochNow = () => performance.timeOrigin + performance.now();

function record(outcome: LoadRecord): void {
  finished += 1;
  const status = String(outcome.status);
  counts[status] = (counts[status] ?? 0) + 1;
  if (outcome.status === 200) lastOkAt = outcome.start + outcome.ms;
  pending += `${JSON.stringify(outcome)}\n`;
  if (pending.length >= FLUSH_BYTES) flush();
}

function progress(): LoadProgress {
  return {
    sent,
    finished,
    inFlight: sent - finished,
    skipped,
    counts: { ...counts },
    lastOkAt,
  };
}

function emit(event: GeneratorEvent): void {
  console.log(JSON.stringify(event));
}

// --- stopping: SIGTERM, stdin closing, the duration or the request budget.
let stopping = false;
let wakeStop: () => void = () => {};
const stopRequested = new Promise<void>((resolve) => (wakeStop = resolve));
function stop(): void {
  stopping = true;
  wakeStop();
}
Deno.addSignalListener('SIGTERM', stop);
void Deno.stdin.readable.pipeTo(new WritableStream()).catch(() => {}).finally(stop);
const rampMs = spec.loop.kind === 'open' ? spec.loop.rampMs ?? 0 : 0;
if (spec.durationMs !== undefined) setTimeout(stop, rampMs + spec.durationMs);
const budgetLeft = () => spec.maxRequests === undefined || sent < spec.maxRequests;

// --- one request: on `reuse` when it is still usable (else a new connection), always ending
// in exactly one record.
const open = new Set<HttpConnection>();
/** Rejecters of the requests in flight, with their deadlines (epoch ms). */
const cancellers = new Map<(error: Error) => void, number>();

/** Fails the requests past their deadline: one timer for all, not one per request. */
function sweep(): void {
  const now = epochNow();
  for (const [reject, deadline] of cancellers) {
    if (deadline <= now) reject(new TimeoutError(`no answer in ${timeoutMs} ms`));
  }
}
const sweeper = setInterval(sweep, Math.min(100, Math.max(10, timeoutMs / 10)));

class TimeoutError extends Error {
  override name = 'Timeout';
}
class AbortedError extends Error {
  override name = 'Aborted';
}

/** Sends request `n`; resolves to the connection to reuse next, or null. */
async function send(
  n: number,
  reuse: HttpConnection | null,
  ramp = false,
): Promise<HttpConnection | null> {
  sent += 1;
  const tag = ramp ? { ramp: true as const } : {};
  const { key, head, body } = request(n);
  const start = epochNow();
  let cancel: (error: Error) => void = () => {};
  // Connecting has no timeout of its own (a full accept queue drops SYNs for minutes), so
  // both steps race the request's deadline (see `sweep`) and the final abort.
  const cancelled = new Promise<never>((_, reject) => {
    cancel = reject;
    cancellers.set(reject, start + timeoutMs);
  });
  cancelled.catch(() => {});
  let connection: HttpConnection | null = reuse?.reusable ? reuse : null;
  if (connection === null) reuse?.close();
  let connectMs = 0;
  try {
    if (connection === null) {
      const opening = HttpConnection.open(hostname, port);
      connection = await Promise.race([opening, cancelled]).catch((error) => {
        // A connection that opens after the deadline is closed, not leaked.
        opening.then((late) => late.close(), () => {});
        throw error;
      });
      open.add(connection);
      connectMs = epochNow() - start;
    }
    const answer = await Promise.race([
      connection.exchange(head, body, chunked),
      cancelled,
    ]);
    record({
      key,
      start,
      ms: epochNow() - start,
      connectMs,
      ...outcomeOf(answer),
      ...tag,
    });
    return connection.reusable ? connection : null;
  } catch (error) {
    connection?.close();
    const status = (error as Error).name;
    record({
      key,
      start,
      ms: epochNow() - start,
      status,
      error: String(error),
      ...tag,
    });
    return null;
  } finally {
    cancellers.delete(cancel);
    if (connection !== null && !connection.reusable) open.delete(connection);
  }
}

function outcomeOf(answer: Answer): Pick<LoadRecord, 'status' | 'result' | 'retryAfter'> {
  let result: string | undefined;
  if (answer.status === 200) {
    try {
      result = (JSON.parse(answer.body) as { status?: string }).status;
    } catch {
      result = 'unreadable';
    }
  }
  return {
    status: answer.status,
    ...(result === undefined ? {} : { result }),
    ...(answer.retryAfter === null ? {} : { retryAfter: answer.retryAfter }),
  };
}

// --- the loops.
const inFlight = new Set<Promise<unknown>>();
let counter = 0;

async function closedLoop(concurrency: number): Promise<void> {
  await Promise.all(Array.from({ length: concurrency }, async () => {
    let connection: HttpConnection | null = null;
    while (!stopping && budgetLeft()) {
      const request = send(counter++, connection);
      inFlight.add(request);
      connection = await request;
      inFlight.delete(request);
      if (connection === null && !stopping) {
        // A refused or dropped connection returns at once; pausing keeps a dead server from
        // turning this loop into a busy one.
        await Promise.race([stopRequested, new Promise((next) => setTimeout(next, errorPauseMs))]);
      }
    }
    connection?.close();
  }));
}

async function openLoop(
  rate: number,
  poisson: boolean,
  maxOutstanding: number,
  rampMs: number,
): Promise<void> {
  const idle: HttpConnection[] = [];
  const began = performance.now();
  const rampEnd = began + rampMs;
  // During the ramp the rate at time t is rate * (t - began) / rampMs, and at least a
  // hundredth of it, so the first arrivals do not wait long for the next.
  const meanGapAt = (t: number) =>
    t >= rampEnd ? 1000 / rate : 1000 / Math.max(rate * (t - began) / rampMs, rate / 100);
  const gap = (t: number) => {
    const mean = meanGapAt(t);
    return poisson ? -Math.log(1 - Math.random()) * mean : mean;
  };
  let nextAt = began;
  while (!stopping && budgetLeft()) {
    const now = performance.now();
    // Timers fire late under load: every arrival already due is sent (or skipped) now.
    while (nextAt <= now && !stopping && budgetLeft()) {
      const ramp = nextAt < rampEnd;
      nextAt += gap(nextAt);
      if (inFlight.size >= maxOutstanding) {
        if (!ramp) skipped += 1;
        continue;
      }
      const request = send(counter++, idle.pop() ?? null, ramp).then((connection) => {
        if (connection !== null) idle.push(connection);
      });
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
    }
    const wait = Math.max(0, Math.min(nextAt - performance.now(), 50));
    await Promise.race([stopRequested, new Promise((next) => setTimeout(next, wait))]);
  }
}

const ticker = setInterval(() => emit({ event: 'progress', ...progress() }), PROGRESS_EVERY_MS);
emit({ event: 'started', at: epochNow() });
const loop = spec.loop;
if (loop.kind === 'closed') {
  // The closed loop's in-flight requests are the loops themselves: stop ends them after
  // their current request, so the drain deadline bounds the wait below.
  await Promise.race([
    closedLoop(loop.concurrency),
    stopRequested.then(() => new Promise((next) => setTimeout(next, drainMs))),
  ]);
} else {
  await openLoop(loop.rate, loop.arrivals === 'poisson', loop.maxOutstanding ?? 1_000, rampMs);
  await Promise.race([Promise.all(inFlight), new Promise((next) => setTimeout(next, drainMs))]);
}
// Past the drain: whatever is still in flight is recorded as Aborted.
stop();
for (const cancel of cancellers.keys()) {
  cancel(new AbortedError('still in flight when the drain ended'));
}
for (const connection of open) connection.close();
await Promise.all(inFlight);
clearInterval(ticker);
clearInterval(sweeper);
flush();
out.close();
emit({ event: 'done', at: epochNow(), ...progress() });
Deno.exit(0);
