import type { ProcessMetrics } from '../_shared/metrics/process.ts';
import type { Hono } from 'hono';
import {
  configuredVerifier,
  type JwtVerifier,
  requireUser,
  type UserEnv,
} from '../_shared/auth/index.ts';
import type { GatehouseApp } from '../_shared/app.ts';
import type { Clock } from '../_shared/clock.ts';
import type { Config } from '../_shared/config/index.ts';
import type { Db } from '../_shared/db/types.ts';
import { createFlagReader, flagDefaults, type FlagReader } from '../_shared/flags/index.ts';
import {
  type Admission,
  type AppEnv,
  createFunctionApp,
  ProblemError,
} from '../_shared/http/index.ts';
import { idempotency } from '../_shared/http/idempotency.ts';
import { openApiRouter, serveOpenApiDocument } from '../_shared/http/openapi.ts';
import type { Logger } from '../_shared/log/index.ts';
import { rateLimit } from '../_shared/ratelimit/tiers.ts';
import type { Runtime } from '../_shared/runtime/index.ts';
import type { Api } from './context.ts';
import { docsPage } from './docs.ts';
import { meRoutes } from './me.ts';
import { qrRoutes } from './qr.ts';
import { rideRoutes } from './rides.ts';
import { vehicleRoutes } from './vehicles.ts';

export interface ApiAppDeps {
  /** The process's metrics (requests counted and timed); none: nothing recorded. */
  readonly metrics?: ProcessMetrics;
  readonly config: Config;
  readonly db: Db;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly app?: GatehouseApp;
  readonly admission?: Admission;
  /** How user tokens are checked; by default from SUPABASE_URL / _JWKS_URL / _JWT_SECRET. */
  readonly verifier?: JwtVerifier | null;
  readonly flags?: FlagReader;
}

/** The OpenAPI document's identity. */
const INFO = {
  title: 'Gatehouse user API',
  version: '1.0.0',
  description: 'What a signed-in user of the app reads and changes: their profile, vehicles ' +
    'and rides. Every request carries `Authorization: Bearer <Supabase access token>`; ' +
    'row-level security decides which rows exist for the caller.',
};

/**
 * The `api` function: the PWA's API, for signed-in Supabase users. Every route but the
 * OpenAPI document and its docs page needs a valid access token (`requireUser`), and runs
 * its SQL as the user (`asUser`), so the database's policies decide what each caller sees.
 * Requests and responses are zod schemas, the same ones the OpenAPI 3.1 document at
 * `/api/openapi.json` is generated from; the docs page at `/api/docs` renders it.
 *
 * @example
 * const app = createApiApp(runtime);
 * Deno.serve(app.fetch);
 */
export function createApiApp(deps: ApiAppDeps): Hono<AppEnv> {
  const verifier = deps.verifier !== undefined
    ? deps.verifier
    : configuredVerifier(deps.config, deps.logger, 'every /api route answers 503 until then');
  const flags = deps.flags ??
    createFlagReader(deps.db, {
      clock: deps.clock,
      defaults: flagDefaults(deps.app?.flags),
      environment: deps.config.env,
      metrics: deps.metrics?.record,
    });

  const app = createFunctionApp('api', {
    metrics: deps.metrics,
    logger: deps.logger,
    corsOrigins: deps.config.http.corsOrigins,
    bodyLimitBytes: 64 * 1024,
    now: () => deps.clock.now(),
    admission: deps.admission,
  });

  const api: Api = openApiRouter<UserEnv>();
  // Public: the document and the page that renders it.
  serveOpenApiDocument(api, {
    info: INFO,
    server: '/functions/v1/api',
    securitySchemes: {
      bearer: {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description: 'A Supabase access token',
      },
    },
  });
  api.get('/docs', (c) => docsPage(c));

  api.use(
    '*',
    verifier !== null ? requireUser(verifier) : () => {
      throw new ProblemError(503, {
        detail: 'user sign-in is not configured on this server',
        expose: true,
      });
    },
  );
  api.use(
    '*',
    rateLimit({ db: deps.db, subject: (c) => c.get('user').id, metrics: deps.metrics?.record }),
  );
  api.use(
    '*',
    idempotency({
      db: deps.db,
      subject: (c) => c.get('user').id,
      ttlSeconds: deps.config.api.idempotencyTtlSeconds,
      // Requesting a ride twice books two cars: the PWA must say which request this is.
      required: (c) => c.req.method === 'POST' && c.req.path.endsWith('/rides'),
    }),
  );
  meRoutes(api, { db: deps.db, flags });
  vehicleRoutes(api, { db: deps.db, flags });
  rideRoutes(api, { db: deps.db, flags });
  qrRoutes(api, { db: deps.db, flags });

  (app as unknown as Hono<UserEnv>).route('/', api);
  return app;
}

/** The api function as deployed. */
export function createApiFunction(runtime: Runtime): Hono<AppEnv> {
  return createApiApp(runtime);
}
