import type { Context } from 'hono';
import { deadlineAfter } from '../timers.ts';
import { declaredLength } from './body-limit.ts';
import type { AppEnv } from './env.ts';

/**
 * Largest declared body read to its end when an answer comes before the body was read
 * (a 401 for a missing signature, a 431, a 405), so the keep-alive connection stays
 * usable. Deliveries are a few KiB and have usually arrived whole with their headers.
 */
export const DRAIN_MAX_BYTES = 64 * 1024;
/** Unread bodies read to their end at once; past this an answer closes its connection. */
export const DRAIN_MAX_CONCURRENT = 256;
/** Longest wait for a small body still arriving; past it the connection is closed. */
export const DRAIN_TIMEOUT_MS = 1_000;

/**
 * Keeps connections alive when a request is answered without its body being read.
 *
 * The HTTP server closes a connection whose request body was left unread, without saying
 * so: the client learns it on its next request (a broken pipe), and every refusal costs a
 * new TCP (and, in front of the edge, TLS) handshake, on both sides. So a body declared at
 * most `DRAIN_MAX_BYTES` long is read to its end and discarded (never buffered) before the
 * answer goes out, and any other unread body (larger, chunked, too slow, or too many at
 * once) is answered with `Connection: close`, so a client knows the connection ends. (Deno's
 * own server, 2.9.6 on, adds the same header for a body left untouched, so a client may
 * see `close, close`: one list, one meaning. Other runtimes do not say it.)
 *
 * Runs last on every answer (the request envelope), outside the request log: the time
 * spent reading is not the handler's. Requests shed at the door (`admissionGate`) are
 * settled the same way.
 *
 * @example
 * await settleUnreadBody(c); // after the handler has answered
 */
export async function settleUnreadBody(c: Context<AppEnv>): Promise<void> {
  // A big or streamed body is only ever read by a handler that goes on to accept it: a
  // refusal (4xx, 5xx) of one closes its connection without looking at the body.
  if (await settleBody(c.req.raw, { bigBodyMayBeRead: c.res.status < 400 })) return;
  try {
    c.res.headers.set('Connection', 'close');
  } catch {
    // An immutable response: the server closes the connection all the same.
  }
}

let draining = 0;

/**
 * Reads the unread body of `request` to its end when it is declared at most
 * `DRAIN_MAX_BYTES` long, discarding it. True when the connection can stay alive (no body,
 * the body already read, or read now); false for a body it would not or could not read
 * (larger, chunked, slower than `DRAIN_TIMEOUT_MS`, `DRAIN_MAX_CONCURRENT` already being
 * read): answer that request with `Connection: close`.
 *
 * A bigger or chunked body is judged by its headers alone unless `bigBodyMayBeRead`: even
 * asking `request.bodyUsed` makes Deno set up a stream for a body nobody read, which under
 * a flood of refused big bodies costs memory per connection. Admission passes false (no
 * handler has run); after a handler, only an answer that accepted the request passes true.
 */
export async function settleBody(
  request: Request,
  options: { readonly bigBodyMayBeRead?: boolean } = {},
): Promise<boolean> {
  const declared = declaredLength(request.headers);
  const chunked = request.headers.has('transfer-encoding');
  if (declared === 0 || (declared === null && !chunked)) return true; // no body
  if (chunked || declared === null || declared > DRAIN_MAX_BYTES) {
    return options.bigBodyMayBeRead === true && request.bodyUsed;
  }
  // A small body: reading it below costs what asking costs, so ask first.
  if (request.bodyUsed) return true;
  // A body a handler began to read as a stream (locked) makes arrayBuffer() reject: false.
  if (draining >= DRAIN_MAX_CONCURRENT) return false;
  draining += 1;
  try {
    return await drain(request);
  } finally {
    draining -= 1;
  }
}

/**
 * Reads a small body whole and drops it (`arrayBuffer()`: the fast way, no stream of
 * chunks); false if it has not all come within `DRAIN_TIMEOUT_MS` or the client went away.
 * A late body is read on until the connection closes, which the `Connection: close`
 * answer makes it do at once. The deadline is a place in the shared line of
 * `deadlineAfter`, not a timer of its own: under overload every refusal drains a body, and
 * a `setTimeout`, its `clearTimeout` and a `Promise.race` each time were a measurable part
 * of a refusal's cost (with the door's headers set after, 65-69 µs of server CPU a refusal
 * against 70-75).
 */
function drain(request: Request): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const deadline = deadlineAfter(DRAIN_TIMEOUT_MS, () => resolve(false));
    request.arrayBuffer().then(
      () => {
        deadline.cancel();
        resolve(true);
      },
      () => {
        deadline.cancel();
        resolve(false);
      },
    );
  });
}
