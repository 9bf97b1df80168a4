import { createFunctionApp } from '../functions/_shared/http/index.ts';
import type { Logger } from '../functions/_shared/log/index.ts';
import type { FetchApp } from './local-router.ts';

/** Answers `/functions/v1/<unknown>`: a 404 problem with a request id, like any function. */
export function notFoundApp(logger: Logger): FetchApp {
  return createFunctionApp('functions', { logger, corsOrigins: [], bodyLimitBytes: 1024 });
}
