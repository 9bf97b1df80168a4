import type { Logger } from '../log/index.ts';
import { declaredLength } from './body-limit.ts';
import { problemBody, ProblemError } from './problem.ts';
import { API_SECURITY_HEADERS } from './security-headers.ts';

export interface AdmissionOptions {
  /** Requests served at once; the next one is shed. */
  readonly maxInFlight: number;
  /** Request body bytes held at once (as declared, or the body limit when undeclared). */
  readonly maxBufferedBytes: number;
}

export interface AdmissionStats {
  readonly inFlight: number;
  readonly bufferedBytes: number;
  /** Requests shed since start, by what was full. */
  readonly shed: { readonly inFlight: number; readonly bytes: number };
}

/**
 * The process's budget of requests in flight and body bytes held. One per process, shared
 * by every function app it serves, so the caps bound the process whatever route is busy.
 */
export interface Admission {
  /** Takes a place for a request that may hold `bytes`; null when the budget is spent. */
  enter(bytes: number): 'admitted' | 'in_flight' | 'bytes';
  /** Gives back what `enter` took. */
  leave(bytes: number): void;
  stats(): AdmissionStats;
}

/** Seconds a shed client is asked to wait: the overload is a burst, measured in seconds. */
export const SHED_RETRY_AFTER_SECONDS = 2;

/**
 * Creates the process's admission budget.
 *
 * @example
 * const admission = createAdmission({ maxInFlight: 128, maxBufferedBytes: 64 * 2 ** 20 });
 * const app = createFunctionApp('webhooks', { ...options, admission });
 */
export function createAdmission(options: AdmissionOptions): Admission {
  if (!(options.maxInFlight >= 1) || !(options.maxBufferedBytes >= 1)) {
    throw new RangeError('admission caps must be positive');
  }
  let inFlight = 0;
  let bufferedBytes = 0;
  const shed = { inFlight: 0, bytes: 0 };
  return {
    enter(bytes) {
      if (inFlight >= options.maxInFlight) {
        shed.inFlight += 1;
        return 'in_flight';
      }
      // A body alone over the cap can never fit; it is the body limit's to refuse (413).
      if (bytes > 0 && bufferedBytes + bytes > options.maxBufferedBytes && bufferedBytes > 0) {
        shed.bytes += 1;
        return 'bytes';
      }
      inFlight += 1;
      bufferedBytes += bytes;
      return 'admitted';
    },
    leave(bytes) {
      inFlight -= 1;
      bufferedBytes -= bytes;
    },
    stats: () => ({ inFlight, bufferedBytes, shed: { ...shed } }),
  };
}

const REQUEST_ID = /^[\w\-=]{1,255}$/;
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
 * A refusal carries the API security headers, a request id (the caller's `X-Request-Id`
 * when well formed), a problem body and `Connection: close`. Refusals are not logged
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
          window_ms: Date.now() - since,
          retry_after_s: SHED_RETRY_AFTER_SECONDS,
        });
      }, everyMs);
      unrefTimer(timer);
    }
    if (verdict === 'bytes') tally.body_bytes += 1;
    else tally.in_flight += 1;
  };

  return async function gate(request, admitted, instance) {
    const bytes = declaredBytes(request.headers, options.bodyLimitBytes);
    const verdict = admission.enter(bytes);
    if (verdict === 'admitted') {
      try {
        return await admitted();
      } finally {
        admission.leave(bytes);
      }
    }
    count(verdict);
    const incoming = request.headers.get('x-request-id');
    const requestId = incoming !== null && REQUEST_ID.test(incoming)
      ? incoming
      : crypto.randomUUID();
    const headers = new Headers(API_SECURITY_HEADERS as [string, string][]);
    headers.set('Content-Type', 'application/problem+json');
    headers.set('Retry-After', String(SHED_RETRY_AFTER_SECONDS));
    headers.set('X-Request-Id', requestId);
    // The connection closes: under overload fewer connections is the point, and one kept
    // open per refused client grew the server past its memory budget in the 4x scenario.
    headers.set('Connection', 'close');
    const body = problemBody(problem, instance(), requestId);
    return new Response(JSON.stringify(body), { status: 503, headers });
  };
}

function declaredBytes(headers: Headers, bodyLimitBytes: number): number {
  const declared = declaredLength(headers);
  if (declared !== null) return Math.min(declared, bodyLimitBytes);
  return headers.has('transfer-encoding') ? bodyLimitBytes : 0;
}

function unrefTimer(timer: ReturnType<typeof setTimeout>): void {
  const deno = (globalThis as { Deno?: { unrefTimer(id: number): void } }).Deno;
  if (deno && typeof timer === 'number') deno.unrefTimer(timer);
  else (timer as { unref?: () => void }).unref?.();
}
