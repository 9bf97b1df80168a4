import type { Hono } from 'hono';
import { rateLimit } from '../_shared/ratelimit/tiers.ts';
import {
  configuredVerifier,
  type JwtVerifier,
  type OperatorEnv,
  requireOperator,
} from '../_shared/auth/index.ts';
import type { Clock } from '../_shared/clock.ts';
import type { Config } from '../_shared/config/index.ts';
import { MIGRATION_MANIFEST } from '../_shared/db/migration-manifest.ts';
import type { MigrationManifestEntry } from '../_shared/db/migrations.ts';
import type { Db } from '../_shared/db/types.ts';
import { type Admission, type AppEnv, createFunctionApp } from '../_shared/http/index.ts';
import { openApiRouter, serveOpenApiDocument } from '../_shared/http/openapi.ts';
import type { Logger } from '../_shared/log/index.ts';
import type { ProcessMetrics } from '../_shared/metrics/process.ts';
import type { Runtime } from '../_shared/runtime/index.ts';
import { auditRoutes } from './audit.ts';
import type { Admin, AdminDeps } from './context.ts';
import { eventRoutes } from './events.ts';
import { flagRoutes } from './flags.ts';
import { jobRoutes } from './jobs.ts';
import { metricRoutes } from './metrics.ts';
import { overviewRoutes } from './overview.ts';
import { webhookReplayRoutes } from './webhook-replay.ts';
import { webhookRoutes } from './webhooks.ts';
import { createSloReader, type SloSummary } from '../_shared/slo/index.ts';

export interface AdminAppDeps {
  readonly config: Config;
  readonly db: Db;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The process's metrics (requests counted and timed); none: nothing recorded. */
  readonly metrics?: ProcessMetrics;
  readonly admission?: Admission;
  /** How user tokens are checked; by default from SUPABASE_URL / _JWKS_URL / _JWT_SECRET. */
  readonly verifier?: JwtVerifier | null;
  /** Migrations this build expects, for the overview's status; the generated manifest. */
  readonly manifest?: readonly MigrationManifestEntry[];
  /** The SLOs, shown under `slos` in `/overview`; none: the overview has no `slos`. */
  readonly slos?: () => Promise<SloSummary>;
}

/** The OpenAPI document's identity. */
const INFO = {
  title: 'Gatehouse admin API',
  version: '1.0.0',
  description: 'What operators read and steer: the overview, inbound events, jobs and dead ' +
    'letters, feature flags, metrics for charts, the audit log and outbound webhook ' +
    'endpoints with their delivery log. Send the service key, or ' +
    'the access token of a user whose `app_metadata.role` holds the permission a route names ' +
    '(`x-gatehouse-permission`). Every change is audit-logged with the caller, in its own ' +
    'transaction.',
};

/**
 * The `admin` function: the operator console's API. Every route but the OpenAPI document
 * (`/admin/openapi.json`) needs the service key or a signed-in user (`requireOperator`),
 * and then the permission the route names (`requirePermission`, from `PERMISSIONS`): plain
 * users and anonymous callers get nothing. Reads run on the requests' pool as the
 * platform; changes run in one transaction each, with an audit row naming the caller.
 *
 * @example
 * const app = createAdminApp({ config, db, logger, clock });
 * const res = await app.request('/admin/jobs', { headers: { Authorization: `Bearer ${key}` } });
 */
export function createAdminApp(deps: AdminAppDeps): Hono<AppEnv> {
  const verifier = deps.verifier !== undefined ? deps.verifier : configuredVerifier(
    deps.config,
    deps.logger,
    'only the service key is accepted on /admin until then',
  );
  const app = createFunctionApp('admin', {
    metrics: deps.metrics,
    logger: deps.logger,
    corsOrigins: deps.config.http.corsOrigins,
    bodyLimitBytes: 64 * 1024,
    now: () => deps.clock.now(),
    admission: deps.admission,
  });

  const admin: Admin = openApiRouter<OperatorEnv>();
  serveOpenApiDocument(admin, {
    info: INFO,
    server: '/functions/v1/admin',
    securitySchemes: {
      bearer: {
        type: 'http',
        scheme: 'bearer',
        description: "The service key, or an operator's Supabase access token",
      },
      apikey: { type: 'apiKey', in: 'header', name: 'apikey', description: 'The service key' },
    },
  });
  admin.use('*', requireOperator({ serviceKeys: deps.config.serviceKeys, verifier }));
  // Each signed-in operator has budgets of their own (the service key, the platform's own
  // credential, has none): a runaway script or a stolen token cannot flood the database.
  const limit = rateLimit({
    api: 'admin',
    db: deps.db,
    subject: (c) => c.get('operator').actor,
    tier: (c) =>
      c.req.method === 'GET' || c.req.method === 'HEAD' ? 'operator_read' : 'operator_write',
    metrics: deps.metrics?.record,
  });
  admin.use('*', (c, next) => c.get('operator').kind === 'user' ? limit(c, next) : next());
  const routeDeps: AdminDeps = {
    config: deps.config,
    db: deps.db,
    clock: deps.clock,
    manifest: deps.manifest ?? MIGRATION_MANIFEST,
    slos: deps.slos,
  };
  overviewRoutes(admin, routeDeps);
  eventRoutes(admin, routeDeps);
  jobRoutes(admin, routeDeps);
  flagRoutes(admin, routeDeps);
  metricRoutes(admin, routeDeps);
  auditRoutes(admin, routeDeps);
  webhookRoutes(admin, routeDeps);
  webhookReplayRoutes(admin, routeDeps);

  (app as unknown as Hono<OperatorEnv>).route('/', admin);
  return app;
}

/** The admin function as deployed. */
export function createAdminFunction(runtime: Runtime): Hono<AppEnv> {
  const slos = createSloReader(runtime.db, { clock: runtime.clock });
  return createAdminApp({ ...runtime, slos: () => slos.read() });
}
