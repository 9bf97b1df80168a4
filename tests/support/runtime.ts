import type { Clock } from '../../functions/_shared/clock.ts';
import type { Config } from '../../functions/_shared/config/index.ts';
import type { Db } from '../../functions/_shared/db/types.ts';
import { createAdmission } from '../../functions/_shared/http/admission.ts';
import type { Logger } from '../../functions/_shared/log/index.ts';
import type { Runtime } from '../../functions/_shared/runtime/index.ts';
import type { GatehouseApp } from '../../functions/_shared/app.ts';
import { app as referenceApp } from '../../functions/_app/index.ts';
import { createProcessMetrics } from '../../functions/_shared/metrics/process.ts';

/**
 * A {@link Runtime} for tests that build a deployed function from the parts they care
 * about: the job engine shares the test's database pool unless given its own, the request
 * budget comes from the config, and no fault has happened.
 */
export function testRuntime(parts: {
  config: Config;
  db: Db;
  jobsDb?: Db;
  logger: Logger;
  clock: Clock;
  fetch?: typeof fetch;
  background?: (task: Promise<unknown>) => void;
  /** The app on the platform; the reference app (`functions/_app`) unless given. */
  app?: GatehouseApp;
}): Runtime {
  const background = parts.background ?? (() => {});
  return {
    config: parts.config,
    db: parts.db,
    jobsDb: parts.jobsDb ?? parts.db,
    logger: parts.logger,
    clock: parts.clock,
    fetch: parts.fetch ?? globalThis.fetch.bind(globalThis),
    background,
    admission: createAdmission(parts.config.http),
    faults: () => ({ unhandledRejections: 0, uncaughtErrors: 0, driverFaults: 0 }),
    app: parts.app ?? referenceApp,
    metrics: createProcessMetrics(parts.jobsDb ?? parts.db, {
      ...parts.config.metrics,
      clock: parts.clock,
      logger: parts.logger,
      background,
    }),
  };
}
