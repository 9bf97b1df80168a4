import type { Logger } from '../log/index.ts';

/** The environment every function app is typed with. */
export type AppEnv = {
  Variables: {
    /** From `X-Request-Id` when well-formed, else a new UUID; echoed on every response. */
    requestId: string;
    /** Request-scoped logger carrying `request_id` and `function`. */
    log: Logger;
  };
};
