/**
 * What the fault suite's load generator is told and what it writes: shared by the in-process
 * API (`load.ts`, under Node) and the generator process (`../load-generator/main.ts`, under
 * Deno), so both read the same shapes. Types only.
 */

/** Providers the generator can play; each is one descriptor in `deliveries.ts`. */
export type LoadProvider = 'whatsapp' | 'stripe';

/** Closed loop: `concurrency` loops, each sending its next request once answered. */
export interface ClosedLoop {
  readonly kind: 'closed';
  readonly concurrency: number;
}

/**
 * Open loop: requests arrive at `rate` per second whatever the answers, spaced evenly or as
 * a Poisson process. An arrival finding `maxOutstanding` requests unanswered is skipped
 * (counted, not sent), so a stalled server cannot make the generator pile up sockets.
 */
export interface OpenLoop {
  readonly kind: 'open';
  readonly rate: number;
  readonly arrivals?: 'even' | 'poisson';
  readonly maxOutstanding?: number;
  /**
   * Before the run's `durationMs`, the rate climbs evenly from zero to `rate` over this
   * long, so connections open as the load needs them and the generator's own code is warm
   * when the measured run begins. Otherwise every run starts with a storm of new
   * connections from a cold process, and the first second's latencies measure that. Ramp
   * requests are recorded with `ramp: true` and left out of the result's counts and
   * latencies (their keys still count as accepted).
   */
  readonly rampMs?: number;
}

/** Signed deliveries, each with a new event key (or all the same one with `duplicate`). */
export interface SignedTraffic {
  readonly kind: 'signed';
  /** The app secret (WhatsApp) or endpoint secret (Stripe) the server verifies with. */
  readonly secret: string;
  /** Every request carries the same event key (a storm of redeliveries). */
  readonly duplicate?: boolean;
  /** Distinct WhatsApp senders (`from`) cycled through, so per-sender limits stay far off. */
  readonly senders?: number;
  /** Distinct WhatsApp business numbers (`phone_number_id`), likewise for per-number limits. */
  readonly businessNumbers?: number;
}

/** Bodies of `bodyBytes` bytes with no signature or a wrong one, written at full speed. */
export interface UnsignedBigTraffic {
  readonly kind: 'unsigned-big';
  readonly bodyBytes: number;
  readonly signature?: 'none' | 'wrong';
  /** `length`: a Content-Length header; `chunked`: no declared length. */
  readonly transfer?: 'length' | 'chunked';
}

export interface LoadSpec {
  /** `http://127.0.0.1:<port>`: loopback only. */
  readonly baseUrl: string;
  readonly provider: LoadProvider;
  /** Defaults to the provider's intake route, e.g. `/functions/v1/webhooks/whatsapp`. */
  readonly path?: string;
  readonly loop: ClosedLoop | OpenLoop;
  readonly traffic: SignedTraffic | UnsignedBigTraffic;
  /** Where each request's outcome is written, one JSON line each. */
  readonly outFile: string;
  /** Tags event keys so runs never collide. */
  readonly run: string;
  /** Stop after this long; absent: until SIGTERM or stdin closes. */
  readonly durationMs?: number;
  /** Stop after sending this many requests. */
  readonly maxRequests?: number;
  /** A request unanswered after this long is recorded as `Timeout` (default 15 s). */
  readonly timeoutMs?: number;
  /** On stop, in-flight requests get this long to finish before they are `Aborted` (5 s). */
  readonly drainMs?: number;
  /** A closed loop pauses this long after a connection error, so a dead server is not
   * hammered by a busy loop writing a million records (default 20 ms). */
  readonly errorPauseMs?: number;
}

/**
 * One request's outcome, as written by the generator. `status` is the HTTP status, or the
 * name of what went wrong instead: `ConnectionRefused`, `ConnectionReset`, `BrokenPipe`,
 * `ConnectionClosed` (closed before a whole answer), `Timeout`, `Aborted` (still in flight
 * when the drain ended).
 */
export interface LoadRecord {
  readonly key: string;
  /** Epoch milliseconds when the request began (connecting included). */
  readonly start: number;
  readonly ms: number;
  /** Of `ms`, the time spent opening a connection (0 on a reused one; absent on errors). */
  readonly connectMs?: number;
  readonly status: number | string;
  /** `status` of a 200's JSON body: `accepted` or `duplicate`. */
  readonly result?: string;
  readonly retryAfter?: string;
  /** The error's message, for a status that is an error name. */
  readonly error?: string;
  /** Sent during an open loop's ramp, before the measured run. */
  readonly ramp?: true;
}

/** Lines the generator prints on stdout. */
export type GeneratorEvent =
  | { readonly event: 'started'; readonly at: number }
  | ({ readonly event: 'progress' } & LoadProgress)
  | ({ readonly event: 'done'; readonly at: number } & LoadProgress);

export interface LoadProgress {
  /** Requests begun. */
  readonly sent: number;
  /** Requests with an outcome (an answer or an error). */
  readonly finished: number;
  readonly inFlight: number;
  /** Open-loop arrivals not sent because `maxOutstanding` were in flight. */
  readonly skipped: number;
  /** Outcomes by status (HTTP status or error name). */
  readonly counts: Readonly<Record<string, number>>;
  /** Epoch milliseconds of the latest 200, or null. */
  readonly lastOkAt: number | null;
}
