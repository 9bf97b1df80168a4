import { AsyncLocalStorage } from 'node:async_hooks';

/** What every piece of work started on behalf of a request can still find out about it. */
export interface RequestContext {
  readonly requestId: string;
}

// One store for the process. Deno keeps it across awaits, timers and promise callbacks, and
// hands it to an `unhandledrejection` listener, so a promise that fails unobserved after a
// request is still traced to that request.
const storage = new AsyncLocalStorage<RequestContext>();

/**
 * Runs `fn` (and everything it starts) as part of the request `context`.
 *
 * @example
 * await withRequestContext({ requestId: 'req-1' }, () => handle(request));
 * // anywhere below: currentRequestId() === 'req-1'
 */
export function withRequestContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The id of the request the running code works for, if any. */
export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}
