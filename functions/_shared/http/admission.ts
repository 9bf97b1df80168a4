import type { Logger } from '../log/index.ts';
import { declaredLength } from './body-limit.ts';
import { problemBody, ProblemError } from './problem.ts';
import { API_SECURITY_HEADERS } from './security-headers.ts';
import { settleBody } from './unread-body.ts';
import { unrefTimer } from '../timers.ts';
import { requestIdFrom } from './request-id.ts';

export interface AdmissionOptions {
  /** Most requests served at once: the ceiling of the adaptive limit. */
  readonly maxInFlight: number;
  /** Request body bytes held at once (as declared, or the body limit when undeclared). */
  readonly maxBufferedBytes: number;
  /**
   * The latency admitted requests should keep, in ms: the in-flight limit adapts to hold
   * it (see `createAdmission`). 0 or absent: the limit stays at `maxInFlight`.
   */
  readonly targetLatencyMs?: number;
  /** The adaptive limit's floor (default `MIN_IN_FLIGHT`, at most `maxInFlight`). */
  readonly minInFlight?: number;
  /** Milliseconds on a monotonic clock (default `performance.now`). */
  readonly now?: () => number;
  /**
   * How late the event loop has run (default: a `startLoopLagProbe()` of its own when there
   * is a latency target; null: not watched).
   */
  readonly loopLag?: LoopLag | null;
}

/** How late the event loop runs, as `startLoopLagProbe` measures it. */
export interface LoopLag {
  /** The worst lateness, in ms, since the last call. */
  worst(): number;
}

/**
 * A window in which the event loop ran later than this shrinks the limit too: the process
 * is short of CPU, and requests then wait before they reach the door, where no request's
 * time shows it (every delivery waiting to be read, refusals included).
 */
export const LAG_LIMIT_MS = 10;
/** The loop-lag probe's period. */
const LAG_PROBE_EVERY_MS = 10;
/** The probe stops after this long without a reading: an idle process wakes for nothing. */
export const LAG_PROBE_IDLE_MS = 1_000;

/**
 * Watches the event loop: a timer every 10 ms notes how late it fired. Unreferenced, so it
 * never keeps a process alive, and stopped after `LAG_PROBE_IDLE_MS` without a reading (the
 * admission reads it only while requests come), so an idle process, or an edge isolate
 * between requests, is not woken 100 times a second; the next reading starts it again.
 */
export function startLoopLagProbe(): LoopLag {
  let timer: ReturnType<typeof setInterval> | null = null;
  let due = 0;
  let worst = 0;
  let readAt = performance.now();
  const start = () => {
    due = performance.now() + LAG_PROBE_EVERY_MS;
    timer = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - due);
      due = now + LAG_PROBE_EVERY_MS;
      if (now - readAt > LAG_PROBE_IDLE_MS) {
        clearInterval(timer!);
        timer = null;
        worst = 0;
      }
    }, LAG_PROBE_EVERY_MS);
    unrefTimer(timer);
  };
  start();
  return {
    worst() {
      readAt = performance.now();
      if (timer === null) {
        start();
        return 0;
      }
      const seen = worst;
      worst = 0;
      return seen;
    },
  };
}

/** The adaptive limit's default floor: enough for the intake's group commit to batch. */
export const MIN_IN_FLIGHT = 16;
/** The adaptive limit is reconsidered once per window of this many ms. */
export const LIMIT_WINDOW_MS = 100;
/** A window in which more than this share of requests missed the target shrinks the limit. */
const SLOW_SHARE = 0.05;
/** Shrinking multiplies the limit by this. */
const DECREASE = 0.8;
/** Growing adds this share of the limit (at least 1). */
const INCREASE = 0.1;

export interface AdmissionStats {
  readonly inFlight: number;
  /** Requests admitted at once right now: `maxInFlight`, or less while latency is high. */
  readonly limit: number;
  readonly bufferedBytes: number;
  /** Requests shed since start, by what was full. */
  readonly shed: { readonly inFlight: number; readonly bytes: number };
}

/**
 * The process's budget of requests in flight and body bytes held. One per process, shared
 * by every function app it serves, so the caps bound the process whatever route is busy.
 */
export interface Admission {
  /** Takes a place for a request that may hold `bytes`; refuses when the budget is spent. */
  enter(bytes: number): 'admitted' | 'in_flight' | 'bytes';
  /** Gives back what `enter` took; `elapsedMs`, how long the request took, feeds the limit. */
  leave(bytes: number, elapsedMs?: number): void;
  /**
   * True while the process is pressed: the limit is below its ceiling, the last window
   * missed the latency target (whether or not the limit shrank), or a request found no
   * room in flight in the current or the last window. Background work (the job worker)
   * yields meanwhile.
   */
  pressed(): boolean;
  stats(): AdmissionStats;
}

/** Seconds a shed client is asked to wait: the overload is a burst, measured in seconds. */
export const SHED_RETRY_AFTER_SECONDS = 2;

/**
 * Creates the process's admission budget.
 *
 * With a latency target the in-flight limit adapts, in the manner of TCP's congestion
 * window (additive increase, multiplicative decrease): once per `LIMIT_WINDOW_MS`, when
 * more than 5 % of the requests that finished in the window took longer than the target,
 * or the event loop ran more than `LAG_LIMIT_MS` late, the limit shrinks by a fifth (not
 * below `minInFlight`), provided more requests were in flight at some moment of the window
 * than the smaller limit admits (else it holds: a smaller limit would have refused nothing,
 * and one that drifted down unused would later shed a load the process carries, such as a
 * fixed set of senders each waiting for its answer); when they kept it, or nothing was in
 * flight, it grows by a tenth (not above `maxInFlight`); with requests in flight and none
 * finishing (a hung database) it holds. Under overload the process then holds only as many
 * requests as it serves within the target, and sheds the rest at once with 503, instead
 * of letting every request wait behind a long queue; a slow database (a held lock, an
 * outage) likewise shrinks the limit as requests pile up, until it answers again.
 *
 * @example
 * const admission = createAdmission({
 *   maxInFlight: 128, maxBufferedBytes: 16 * 2 ** 20, targetLatencyMs: 50,
 * });
 * const app = createFunctionApp('webhooks', { ...options, admission });
 */
export function createAdmission(options: AdmissionOptions): Admission {
  if (!(options.maxInFlight >= 1) || !(options.maxBufferedBytes >= 1)) {
    throw new RangeError('admission caps must be positive');
  }
  const target = options.targetLatencyMs ?? 0;
  const ceiling = options.maxInFlight;
  const floor = Math.min(ceiling, Math.max(1, options.minInFlight ?? MIN_IN_FLIGHT));
  const now = options.now ?? (() => performance.now());
  const loopLag = options.loopLag === undefined
    ? (target > 0 ? startLoopLagProbe() : null)
    : options.loopLag;
  let inFlight = 0;
  let bufferedBytes = 0;
  let limit = ceiling;
  const shed = { inFlight: 0, bytes: 0 };
  // The current window: when it began, requests finished in it, how many missed the
  // target, and whether any was shed in it or the one before.
  let windowStart = now();
  let finished = 0;
  let slow = 0;
  // The most requests in flight at once in the window.
  let peak = 0;
  let shedNow = false;
  let shedBefore = false;
  // The last window closed missed the target (slow requests or a late event loop).
  let missed = false;

  /** Closes the window(s) that ended by `at`, adjusting the limit. */
  const settle = (at: number) => {
    const elapsed = at - windowStart;
    if (target <= 0 || elapsed < LIMIT_WINDOW_MS) return;
    const lagging = loopLag !== null && loopLag.worst() > LAG_LIMIT_MS;
    missed = lagging || (finished > 0 && slow > finished * SLOW_SHARE);
    if (missed) {
      // Only a smaller limit that would have turned requests away shrinks it: while fewer
      // are in flight than that, the latency is not the queue the door lets in (a client
      // sending one request at a time per connection, a slow database with little traffic),
      // and a limit that drifted down unused would later refuse a load it can carry.
      const smaller = Math.max(floor, Math.floor(limit * DECREASE));
      if (peak > smaller) limit = smaller;
    } else if (finished > 0 || inFlight === 0) {
      // (Requests in flight and none finished, a hung database: the limit holds.)
      // One step per window that passed: a limit left low by a burst recovers while idle.
      const windows = finished > 0 ? 1 : Math.floor(elapsed / LIMIT_WINDOW_MS);
      for (let i = 0; i < windows && limit < ceiling; i += 1) {
        limit = Math.min(ceiling, limit + Math.max(1, Math.floor(limit * INCREASE)));
      }
    }
    shedBefore = shedNow && elapsed < 2 * LIMIT_WINDOW_MS;
    shedNow = false;
    windowStart = at;
    finished = 0;
    slow = 0;
    peak = inFlight;
  };

  return {
    enter(bytes) {
      settle(now());
      if (inFlight >= limit) {
        shed.inFlight += 1;
        shedNow = true;
        peak = Math.max(peak, inFlight + 1);
        return 'in_flight';
      }
      // A body alone over the cap can never fit; it is the body limit's to refuse (413).
      if (bytes > 0 && bufferedBytes + bytes > options.maxBufferedBytes && bufferedBytes > 0) {
        shed.bytes += 1;
        return 'bytes';
      }
      inFlight += 1;
      if (inFlight > peak) peak = inFlight;
      bufferedBytes += bytes;
      return 'admitted';
    },
    leave(bytes, elapsedMs) {
      inFlight -= 1;
      bufferedBytes -= bytes;
      if (elapsedMs !== undefined) {
        finished += 1;
        if (elapsedMs > target) slow += 1;
      }
      settle(now());
    },
    pressed() {
      settle(now());
      return limit < ceiling || missed || shedNow || shedBefore;
    },
    stats: () => ({ inFlight, limit, bufferedBytes, shed: { ...shed } }),
  };
}

/** Headers of every refusal at the door, besides its request id. */
const SHED_HEADERS: readonly [string, string][] = [
  ...API_SECURITY_HEADERS.map(([name, value]): [string, string] => [name, value]),
  ['Content-Type', 'application/problem+json'],
  ['Retry-After', String(SHED_RETRY_AFTER_SECONDS)],
];
/** How often the tally of shed requests is logged while shedding goes on. */
export const SHED_SUMMARY_EVERY_MS = 10_000;

export interface AdmissionGateOptions {
  /** The route's body limit: the most a body without a declared length may hold. */
  readonly bodyLimitBytes: number;
  readonly logger: Logger;
  /** The function's name, in the summary line. */
  readonly functionName: string;
  /** Milliseconds between summary lines; defaults to `SHED_SUMMARY_EVERY_MS`. */
  readonly summaryEveryMs?: number;
  /** Milliseconds on a monotonic clock, to time admitted requests (`performance.now`). */
  readonly now?: () => number;
  /** Told of each refusal, with its cause (metrics count them). */
  readonly onShed?: (verdict: 'in_flight' | 'bytes', method: string) => void;
}

/** Serves an admitted request; `admissionGate` calls it only when there is room. */
export type AdmittedFetch = () => Response | Promise<Response>;

/** Lets through or sheds `request`; `instance` is its path as the function sees it. */
export type Gate = (
  request: Request,
  admitted: AdmittedFetch,
  instance: () => string,
) => Promise<Response>;

/**
 * The door of a function app: sheds a request the process has no room for with 503 and
 * `Retry-After`, before its body is read, before routing and before any middleware, so a
 * refusal costs next to nothing and the requests already admitted keep their latency. A
 * body counts as its declared `Content-Length` (at most `bodyLimitBytes`, above which the
 * body limit refuses it unread), or as `bodyLimitBytes` when streamed without a length.
 *
 * Each admitted request's time, from the door to its response, feeds the adaptive limit.
 * A refusal carries the API security headers, a request id (the caller's `X-Request-Id`
 * when well formed) and a problem body; a body declared at most `DRAIN_MAX_BYTES` is read
 * and dropped so the connection stays alive, any other closes it. Refusals are not logged
 * one by one (under overload that would be thousands of lines a second): a warning tallies
 * them by cause every `summaryEveryMs` while shedding lasts, and `/health` counts them.
 *
 * @example
 * const gate = admissionGate(admission, { bodyLimitBytes, logger, functionName: 'webhooks' });
 * const serve = (request: Request) =>
 *   gate(request, () => app.fetch(request), () => new URL(request.url).pathname);
 */
export function admissionGate(admission: Admission, options: AdmissionGateOptions): Gate {
  const problem = new ProblemError(503, {
    detail: 'The server is at capacity. Retry later.',
    expose: true,
  });
  const everyMs = options.summaryEveryMs ?? SHED_SUMMARY_EVERY_MS;
  let tally: { in_flight: number; body_bytes: number } | null = null;
  const count = (verdict: 'in_flight' | 'bytes') => {
    if (tally === null) {
      tally = { in_flight: 0, body_bytes: 0 };
      const since = Date.now();
      const timer = setTimeout(() => {
        const counted = tally!;
        tally = null;
        options.logger.warn('requests shed: the server is at capacity', {
          function: options.functionName,
          shed: counted.in_flight + counted.body_bytes,
          in_flight: counted.in_flight,
          body_bytes: counted.body_bytes,
          in_flight_limit: admission.stats().limit,
          window_ms: Date.now() - since,
          retry_after_s: SHED_RETRY_AFTER_SECONDS,
        });
      }, everyMs);
      unrefTimer(timer);
    }
    if (verdict === 'bytes') tally.body_bytes += 1;
    else tally.in_flight += 1;
  };

  const now = options.now ?? (() => performance.now());
  return async function gate(request, admitted, instance) {
    const bytes = declaredBytes(request.headers, options.bodyLimitBytes);
    const verdict = admission.enter(bytes);
    if (verdict === 'admitted') {
      const started = now();
      try {
        return await admitted();
      } finally {
        admission.leave(bytes, now() - started);
      }
    }
    count(verdict);
    options.onShed?.(verdict, request.method);
    const requestId = requestIdFrom(request.headers);
    // A small body is read and dropped so the connection stays alive: a refusal then costs
    // the client and the server no new handshake, which under overload is most of its cost.
    // A big or streamed body is never read here; its connection closes.
    const kept = await settleBody(request, { bigBodyMayBeRead: false });
    const body = problemBody(problem, instance(), requestId);
    // Headers set one by one on the made response: Deno's Response constructor converts
    // headers given to it at several times the cost (in process, about 8 µs for these
    // against 3).
    const response = new Response(JSON.stringify(body), { status: 503 });
    const headers = response.headers;
    for (const [name, value] of SHED_HEADERS) headers.set(name, value);
    headers.set('X-Request-Id', requestId);
    if (!kept) headers.set('Connection', 'close');
    return response;
  };
}

function declaredBytes(headers: Headers, bodyLimitBytes: number): number {
  const declared = declaredLength(headers);
  if (declared !== null) return Math.min(declared, bodyLimitBytes);
  return headers.has('transfer-encoding') ? bodyLimitBytes : 0;
}
