import type { LogFields, Logger } from '../log/index.ts';

/**
 * The environment every function app is typed with. Read variables with `c.get('name')`:
 * Hono's `c.var` builds a new object from all of them on every access.
 */
export type AppEnv = {
  Variables: {
    /** From `X-Request-Id` when well-formed, else a new UUID; echoed on every response. */
    requestId: string;
    /** Request-scoped logger carrying `request_id` and `function`. */
    log: Logger;
    /**
     * Extra fields for this request's one log line (e.g. why a webhook was refused), so a
     * handler adds context without writing a second line.
     */
    logFields: LogFields;
  };
};
