/**
 * Load for fault scenarios, from a process of its own (`../load-generator/main.ts` under
 * Deno), so the server's CPU and RSS are its own. Every request's outcome is a line in a file;
 * `stop()` (or the run's end) parses it into a `LoadResult` a test can assert on.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { projectRoot } from '../../support/process.ts';
import type { GeneratorEvent, LoadProgress, LoadRecord, LoadSpec } from './load-spec.ts';

export type { LoadProgress, LoadRecord } from './load-spec.ts';

export type LoadOptions =
  & Omit<LoadSpec, 'outFile' | 'run' | 'provider'>
  & Partial<Pick<LoadSpec, 'outFile' | 'run' | 'provider'>>;

/** A record with its answer time. */
export interface TimedRecord extends LoadRecord {
  /** Epoch milliseconds when the answer (or the error) came: `start + ms`. */
  readonly end: number;
}

export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface LoadResult {
  /** Every request, in the order they began (an open loop's ramp included). */
  readonly records: readonly TimedRecord[];
  /**
   * Outcomes by status: `'200'`, `'503'`, `'ConnectionRefused'`, ... This and the figures
   * below leave out an open loop's ramp (`rampMs`); `accepted` does not.
   */
  readonly counts: Readonly<Record<string, number>>;
  /** Event keys answered 200 `{"status":"accepted"}`: the ones the server says it stored. */
  readonly accepted: ReadonlySet<string>;
  /** How many 200s said `duplicate`. */
  readonly duplicates: number;
  /** Latency of the 200s, in milliseconds (NaN when there were none). */
  readonly okLatency: Percentiles;
  /** The same 200s from their request's first byte: `ms` less the time spent connecting. */
  readonly okAnswerLatency: Percentiles;
  /** How many 200s came on a connection opened for them. */
  readonly okOnNewConnection: number;
  readonly sent: number;
  /** Open-loop arrivals not sent because too many requests were outstanding. */
  readonly skipped: number;
  /** Epoch milliseconds when the generator began sending and when it finished. */
  readonly startedAt: number;
  readonly endedAt: number;
  /** The first outcome with `status` answered at or after epoch ms `t`. */
  firstAfter(t: number, status?: number | string): TimedRecord | undefined;
}

export interface LoadRun {
  readonly pid: number;
  /** The outcome file; one chosen by `startLoad` (no `outFile` given) is removed once parsed. */
  readonly outFile: string;
  /** Epoch milliseconds when the generator began sending. */
  readonly startedAt: number;
  /** The generator's latest report (every 100 ms). */
  progress(): LoadProgress;
  /** Resolves with the latest report that satisfies `ready`; rejects after `timeoutMs`. */
  waitFor(ready: (progress: LoadProgress) => boolean, timeoutMs?: number): Promise<LoadProgress>;
  /** Resolves once the run ends by itself (its duration or request budget). */
  finished(): Promise<LoadResult>;
  /** Ends the run (SIGTERM, or closing its stdin), lets in-flight requests drain, parses. */
  stop(options?: { via?: 'signal' | 'stdin' }): Promise<LoadResult>;
}

const GENERATOR = join(projectRoot, 'tests/faults/load-generator/main.ts');
const DENO = join(projectRoot, 'node_modules/.bin/deno');
const running = new Set<ChildProcess>();

/**
 * Starts the load generator and resolves once it has begun sending.
 *
 * @example
 * ```ts
 * const load = await startLoad({
 *   baseUrl: server.base,
 *   loop: { kind: 'closed', concurrency: 32 },
 *   traffic: { kind: 'signed', secret: appSecret },
 * });
 * await load.waitFor((p) => p.finished >= 500);
 * const result = await load.stop();
 * expect(result.counts['200']).toBe(result.sent);
 * ```
 */
export async function startLoad(options: LoadOptions): Promise<LoadRun> {
  const folder = options.outFile === undefined
    ? await mkdtemp(join(tmpdir(), 'gatehouse-load-'))
    : undefined;
  const spec: LoadSpec = {
    provider: 'whatsapp',
    run: randomUUID().slice(0, 8),
    outFile: options.outFile ?? join(folder!, 'outcomes.jsonl'),
    ...options,
  };
  const child = spawn(
    DENO,
    [
      'run',
      '--allow-all',
      '--quiet',
      '--config',
      join(projectRoot, 'deno.json'),
      GENERATOR,
      JSON.stringify(spec),
    ],
    { cwd: projectRoot, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  running.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  // Our end of its stdin may close first when it exits on its own; that is not an error.
  child.stdin!.on('error', () => {});
  // 'close', not 'exit': it comes after stdout's last line (the `done` report) was read.
  const exited = new Promise<number | string>((resolve) =>
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? 'unknown');
    })
  );

  let latest: LoadProgress = {
    sent: 0,
    finished: 0,
    inFlight: 0,
    skipped: 0,
    counts: {},
    lastOkAt: null,
  };
  let done: (GeneratorEvent & { event: 'done' }) | undefined;
  let startedAt: number | undefined;
  let onStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => (onStarted = resolve));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const event = JSON.parse(line) as GeneratorEvent;
    if (event.event === 'started') {
      startedAt = event.at;
      onStarted();
    } else {
      const { event: _kind, ...progress } = event;
      latest = progress;
      if (event.event === 'done') done = event;
    }
  });

  const failure = (what: string, code: number | string) =>
    new Error(`load generator ${what} (exit ${code}):\n${stderr}`);
  const ended = exited.then(async (code) => {
    try {
      if (code !== 0 || done === undefined || startedAt === undefined) {
        throw failure('failed', code);
      }
      return await readLoadResult(spec.outFile, startedAt, done);
    } finally {
      if (folder !== undefined) await rm(folder, { recursive: true, force: true });
    }
  });
  ended.catch(() => {});
  await Promise.race([
    started,
    exited.then((code) => Promise.reject(failure('exited before sending', code))),
  ]);

  return {
    pid: child.pid!,
    outFile: spec.outFile,
    startedAt: startedAt!,
    progress: () => latest,
    async waitFor(ready, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!ready(latest)) {
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(`load never reached the condition; latest ${JSON.stringify(latest)}`);
        }
        await new Promise((next) => setTimeout(next, 20));
      }
      return latest;
    },
    finished: () => ended,
    stop({ via = 'signal' } = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        if (via === 'signal') child.kill('SIGTERM');
        else child.stdin!.end();
      }
      return ended;
    },
  };
}

/** Parses a generator's outcome file; `done` is its final report (to check none is lost). */
async function readLoadResult(
  outFile: string,
  startedAt: number,
  done: GeneratorEvent & { event: 'done' },
): Promise<LoadResult> {
  const text = await readFile(outFile, 'utf8');
  const records: TimedRecord[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const record = JSON.parse(line) as LoadRecord;
    records.push({ ...record, end: record.start + record.ms });
  }
  if (records.length !== done.sent) {
    throw new Error(`load generator sent ${done.sent} requests but recorded ${records.length}`);
  }
  records.sort((a, b) => a.start - b.start);
  const counts: Record<string, number> = {};
  const accepted = new Set<string>();
  let duplicates = 0;
  const okMs: number[] = [];
  const okAnswerMs: number[] = [];
  let okOnNewConnection = 0;
  for (const record of records) {
    // A ramp's deliveries count as stored or not, not in the measured run's figures.
    if (record.ramp) {
      if (record.status === 200 && record.result === 'accepted') accepted.add(record.key);
      continue;
    }
    counts[record.status] = (counts[record.status] ?? 0) + 1;
    if (record.status !== 200) continue;
    okMs.push(record.ms);
    okAnswerMs.push(record.ms - (record.connectMs ?? 0));
    if ((record.connectMs ?? 0) > 0) okOnNewConnection += 1;
    if (record.result === 'accepted') accepted.add(record.key);
    if (record.result === 'duplicate') duplicates += 1;
  }
  const byEnd = [...records].sort((a, b) => a.end - b.end);
  return {
    records,
    counts,
    accepted,
    duplicates,
    okLatency: percentiles(okMs),
    okAnswerLatency: percentiles(okAnswerMs),
    okOnNewConnection,
    sent: done.sent,
    skipped: done.skipped,
    startedAt,
    endedAt: done.at,
    firstAfter: (t, status = 200) =>
      byEnd.find((record) => record.end >= t && record.status === status),
  };
}

function percentiles(values: number[]): Percentiles {
  values.sort((a, b) => a - b);
  const at = (p: number) =>
    values.length === 0 ? NaN : values[Math.min(values.length - 1, Math.floor(p * values.length))]!;
  return { count: values.length, p50: at(0.5), p99: at(0.99), max: values.at(-1) ?? NaN };
}

// A test that fails mid-run must not leave a generator sending: it also stops when its stdin
// closes (our exit), and here on a normal exit at once.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
