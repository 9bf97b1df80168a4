import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './env.ts';
import { ProblemError } from './problem.ts';

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
 * app.use(admissionControl(admission, { bodyLimitBytes: 3 * 2 ** 20 }));
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

const DECLARED_LENGTH = /^\d{1,15}$/;

/**
 * Sheds a request the process has no room for with 503 and `Retry-After`, before its body
 * is read: its bytes are never buffered, and the requests already admitted keep their
 * latency. A body counts as its declared `Content-Length` (at most `bodyLimitBytes`, above
 * which the body limit refuses it unread), or as `bodyLimitBytes` when it is streamed
 * without a declared length. Must run after the request id and log middleware.
 *
 * @example
 * app.use(admissionControl(admission, { bodyLimitBytes: 1024 * 1024 }));
 */
export function admissionControl(
  admission: Admission,
  options: { bodyLimitBytes: number },
): MiddlewareHandler<AppEnv> {
  return async function admissionControl(c, next) {
    const headers = c.req.raw.headers;
    const declared = headers.get('content-length');
    let bytes = 0;
    if (declared !== null && DECLARED_LENGTH.test(declared)) {
      bytes = Math.min(Number(declared), options.bodyLimitBytes);
    } else if (headers.has('transfer-encoding')) {
      bytes = options.bodyLimitBytes;
    }
    const verdict = admission.enter(bytes);
    if (verdict !== 'admitted') {
      c.get('logFields').reason = verdict === 'bytes' ? 'shed_body_bytes' : 'shed_in_flight';
      throw new ProblemError(503, {
        detail: 'The server is at capacity. Retry later.',
        headers: { 'Retry-After': String(SHED_RETRY_AFTER_SECONDS) },
        expose: true,
      });
    }
    try {
      await next();
    } finally {
      admission.leave(bytes);
    }
  };
}
