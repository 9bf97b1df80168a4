/**
 * The admin API through its real router on a migrated database: who gets in (every route
 * of its OpenAPI document refuses anonymous callers and plain users, and admits exactly the
 * roles `PERMISSIONS` names), the document itself, the overview and inbound events. Flags
 * and the audit log: admin-api-flags.test.ts; jobs: admin-api-jobs.test.ts; metrics:
 * admin-api-metrics.test.ts.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { can, type Permission, PERMISSIONS, ROLES } from '../functions/_shared/auth/index.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { enqueueJobs } from '../functions/_shared/queue/index.ts';
import { createSloReader } from '../functions/_shared/slo/index.ts';
import { createAdminApp } from '../functions/admin/index.ts';
import { type Caller, SERVICE_KEY, useAdmin } from './support/admin.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { problemOf } from './support/test-app.ts';

const database = useMigratedDatabase({
  reset: 'delete from inbound_events; delete from jobs; delete from dead_jobs; ' +
    'delete from system_metrics;',
});
const admin = useAdmin(database);
const withSlos = useAdmin(database, {
  slos: () => createSloReader(database.db, { clock: systemClock }).read(),
});
const failingSlos = useAdmin(database, { slos: () => Promise.reject(new Error('slo store down')) });

const ADMIN = { role: 'admin' } as const;
const SUPPORT = { role: 'support' } as const;

interface Operation {
  readonly method: string;
  readonly path: string;
  readonly permission: Permission;
}

type OpenApiDocument = {
  openapi: string;
  paths: Record<string, Record<string, { 'x-gatehouse-permission'?: string }>>;
  components: { securitySchemes: Record<string, unknown> };
};

async function documentOf(): Promise<OpenApiDocument> {
  const res = await admin.call('nobody', '/openapi.json');
  expect(res.status).toBe(200);
  return await res.json() as OpenApiDocument;
}

/** Every operation the document lists, with the permission it names. */
async function operations(): Promise<Operation[]> {
  const doc = await documentOf();
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      permission: operation['x-gatehouse-permission'] as Permission,
    }))
  );
}

/** A request to `operation` with placeholder input: ids and keys that name nothing. */
function placeholder(operation: Operation): [string, RequestInit] {
  const path = operation.path.replace('{id}', '987654321').replace('{key}', 'no.such.flag');
  const init: RequestInit = { method: operation.method };
  if (operation.method !== 'GET') init.body = '{}';
  return [path, init];
}

describe('the door', () => {
  it('serves a valid OpenAPI 3.1 document listing every route, each naming its permission', async () => {
    const doc = await documentOf();
    const result = await new Validator().validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe('3.1.0');
    const listed = (await operations()).map((op) => `${op.method} ${op.path} ${op.permission}`);
    expect(listed.sort()).toEqual([
      'GET /audit audit:read',
      'GET /dead-jobs ops:read',
      'GET /events ops:read',
      'GET /events/{id} ops:read',
      'GET /flags ops:read',
      'GET /flags/{key} ops:read',
      'GET /flags/{key}/history audit:read',
      'GET /jobs ops:read',
      'GET /jobs/{id} ops:read',
      'GET /metrics ops:read',
      'GET /metrics/series ops:read',
      'GET /overview ops:read',
      'GET /webhooks/endpoints ops:read',
      'GET /webhooks/endpoints/{id} ops:read',
      'GET /webhooks/endpoints/{id}/deliveries ops:read',
      'GET /webhooks/endpoints/{id}/health ops:read',
      'GET /webhooks/messages/{id} ops:read',
      'PATCH /flags/{key} flags:write',
      'PATCH /webhooks/endpoints/{id} webhooks:write',
      'POST /dead-jobs/replay jobs:replay',
      'POST /dead-jobs/{id}/replay jobs:replay',
      'POST /webhooks/endpoints webhooks:write',
      'POST /webhooks/endpoints/{id}/pause webhooks:write',
      'POST /webhooks/endpoints/{id}/replay webhooks:write',
      'POST /webhooks/endpoints/{id}/resume webhooks:write',
      'POST /webhooks/endpoints/{id}/rotate-secret webhooks:write',
      'POST /webhooks/endpoints/{id}/test webhooks:write',
      'DELETE /webhooks/endpoints/{id} webhooks:write',
    ].sort());
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['apikey', 'bearer']);
  });

  it('refuses a plain user and anon on every route, whatever the input', async () => {
    const refusals: Record<string, unknown>[] = [];
    for (const operation of await operations()) {
      const [path, init] = placeholder(operation);
      const callers: [Caller | 'wrong key', number][] = [
        ['nobody', 401],
        ['anon', 401],
        ['wrong key', 401],
        [{ role: 'user' }, 403],
      ];
      for (const [caller, expected] of callers) {
        const res = caller === 'wrong key'
          ? await admin.call('nobody', path, {
            ...init,
            headers: { authorization: `Bearer ${SERVICE_KEY}x` },
          })
          : await admin.call(caller, path, init);
        const problem = await problemOf(res);
        refusals.push({ route: `${operation.method} ${operation.path}`, caller, problem });
        expect({ route: `${operation.method} ${operation.path}`, caller, status: res.status })
          .toEqual({ route: `${operation.method} ${operation.path}`, caller, status: expected });
      }
    }
    expect(refusals.length).toBe((await operations()).length * 4);
    // A plain user is told which permission was missing; nobody gets data.
    expect(refusals.filter((r) => (r.caller as { role?: string }).role === 'user'))
      .toEqual(expect.arrayContaining([expect.objectContaining({
        problem: expect.objectContaining({
          detail: expect.stringMatching(/^this needs the [a-z]+:[a-z]+ permission/),
        }),
      })]));
  });

  it('admits exactly the roles PERMISSIONS names, and the service key everywhere', async () => {
    for (const operation of await operations()) {
      const [path, init] = placeholder(operation);
      expect(Object.keys(PERMISSIONS)).toContain(operation.permission);
      for (const role of ROLES) {
        const res = await admin.call({ role }, path, init);
        const allowed = can(role, operation.permission);
        const outcome = res.status === 403 ? 'refused' : res.status === 401 ? 'anonymous' : 'in';
        expect({ route: `${operation.method} ${operation.path}`, role, outcome })
          .toEqual({
            route: `${operation.method} ${operation.path}`,
            role,
            outcome: allowed ? 'in' : 'refused',
          });
      }
      const keyHeaders: Record<string, string>[] = [
        { authorization: `Bearer ${SERVICE_KEY}` },
        { apikey: SERVICE_KEY },
      ];
      for (const headers of keyHeaders) {
        const res = await admin.call('nobody', path, { ...init, headers });
        expect([401, 403]).not.toContain(res.status);
      }
    }
  });

  it('takes the service key alone while user sign-in is not configured, and says so', async () => {
    const { logger, entries } = capturedLogger();
    const app = createAdminApp({
      config: parseConfig({ GATEHOUSE_SERVICE_KEY: SERVICE_KEY }),
      db: database.db,
      logger,
      clock: systemClock,
    });
    const call = (authorization?: string) =>
      app.request('/admin/flags', { headers: authorization ? { authorization } : {} });
    expect((await call(`Bearer ${SERVICE_KEY}`)).status).toBe(200);
    expect((await call()).status).toBe(401);
    const token = await call('Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln');
    expect(token.status).toBe(503);
    expect((await problemOf(token)).detail).toContain('user sign-in is not configured');
    expect(entries()).toContainEqual(expect.objectContaining({
      msg: expect.stringContaining('user sign-in is not configured'),
    }));
  });

  it('answers a route it does not have with 404, after the door', async () => {
    const anonymous = await admin.call('nobody', '/no-such-route');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse"');
    expect((await problemOf(anonymous)).detail).toContain(
      'send the service key or an access token',
    );
    const res = await admin.call(ADMIN, '/no-such-route');
    expect(res.status).toBe(404);
    expect(await problemOf(res)).toMatchObject({ status: 404 });
  });
});

describe('GET /overview', () => {
  it('reports the status, the checks, the queue and the rates of the last minutes', async () => {
    await enqueueJobs(database.db, [{ queue: 'stripe', kind: 'stripe.event' }, {
      queue: 'stripe',
      kind: 'stripe.event',
    }]);
    await database.db.query(
      `insert into system_metrics (name, labels, bucket, width, kind, value)
       values ('gatehouse_http_requests_total', '{"function":"api","status":"200"}',
               date_trunc('minute', now()), interval '1 minute', 'counter', 60),
              ('gatehouse_http_requests_total', '{"function":"api","status":"503"}',
               date_trunc('minute', now()) - interval '1 minute', interval '1 minute', 'counter', 6),
              ('gatehouse_http_requests_total', '{"function":"api","status":"200"}',
               date_trunc('minute', now()) - interval '30 minutes', interval '1 minute', 'counter', 9000),
              ('gatehouse_http_requests_total', '{"function":"api","status":"200"}',
               '-infinity', interval '0', 'counter', 99999),
              ('gatehouse_webhook_events_total', '{"provider":"stripe","outcome":"accepted"}',
               date_trunc('minute', now()), interval '1 minute', 'counter', 12),
              ('gatehouse_webhook_events_total', '{"provider":"stripe","outcome":"duplicate"}',
               date_trunc('minute', now()), interval '1 minute', 'counter', 3),
              ('gatehouse_jobs_total', '{"kind":"stripe.event","outcome":"succeeded"}',
               date_trunc('minute', now()), interval '1 minute', 'counter', 24)`,
    );
    const overview = await admin.json<{
      status: string;
      checks: Record<string, { status: string }>;
      queue: { totals: { depth: number }; thresholds: unknown };
      rates: Record<string, number>;
      slos?: unknown;
    }>('service', '/overview');
    expect(overview.status).toBe('ok');
    expect(Object.keys(overview.checks).sort()).toEqual([
      'database',
      'migrations',
      'queue',
      'webhooks',
    ]);
    expect(overview.checks.database!.status).toBe('ok');
    // The intake routes and what reached them, as /health's webhooks check has them.
    const webhooks = overview.checks.webhooks as unknown as {
      status: string;
      providers: { provider: string; stored: number }[];
    };
    expect(webhooks.status).toBe('ok');
    expect(webhooks.providers.find((p) => p.provider === 'stripe')).toMatchObject({ stored: 12 });
    expect(overview.queue.totals.depth).toBe(2);
    // The thresholds the queue is rated against, and nothing else of the configuration.
    expect(overview.queue.thresholds).toEqual({ depthWarning: 1000, depthCritical: 2000 });
    expect(overview).not.toHaveProperty('slos');
    const seconds = overview.rates.window_seconds!;
    expect(seconds).toBeGreaterThanOrEqual(300);
    expect(seconds).toBeLessThanOrEqual(360);
    const per = (count: number) => count / seconds;
    expect(overview.rates.http_requests).toBeCloseTo(per(66), 3);
    expect(overview.rates.http_server_errors).toBeCloseTo(per(6), 3);
    expect(overview.rates.webhook_events_accepted).toBeCloseTo(per(12), 3);
    expect(overview.rates.webhook_events_duplicate).toBeCloseTo(per(3), 3);
    expect(overview.rates.jobs_succeeded).toBeCloseTo(per(24), 3);
    expect(overview.rates.jobs_dead).toBe(0);
  });

  it('includes the SLOs when the function has them, and says when they cannot be read', async () => {
    await database.db.query(
      `insert into system_metrics (name, labels, bucket, width, kind, value)
       values ('gatehouse_http_requests_total',
               '{"function":"api","route":"/api/rides","method":"GET","status":"200"}',
               date_trunc('minute', now()), interval '1 minute', 'counter', 998),
              ('gatehouse_http_requests_total',
               '{"function":"api","route":"/api/rides","method":"GET","status":"503"}',
               date_trunc('minute', now()), interval '1 minute', 'counter', 2)`,
    );
    const { slos } = await withSlos.json<{
      slos: { status: string; slos: { key: string; status: string; windows: unknown }[] };
    }>('service', '/overview');
    expect(slos.status).toBe('ok');
    expect(slos.slos.map((slo) => slo.key)).toEqual([
      'availability',
      'latency',
      'errors',
      'webhook_processing',
    ]);
    expect(slos.slos[0]).toMatchObject({
      status: 'exhausted',
      windows: { '5m': { events: 1000, bad: 2, sli: 0.998, burn_rate: 2 } },
    });
    expect(await failingSlos.json('service', '/overview')).toMatchObject({
      status: 'ok',
      slos: { status: 'unavailable' },
    });
  });
});

/** Stores events received `minutesAgo` minutes ago; returns their ids in that order. */
async function receive(
  events: { provider: string; key: string; status?: string; minutesAgo: number }[],
): Promise<number[]> {
  const rows = await database.db.query<{ id: string }>(
    `insert into inbound_events (provider, event_key, event_type, status, payload, received_at,
                                 request_id)
     select e.provider, e.key, 'test.event', coalesce(e.status, 'accepted'),
            jsonb_build_object('key', e.key), now() - make_interval(mins => e.minutes_ago),
            'req-' || e.key
       from jsonb_to_recordset($1::jsonb)
            as e(provider text, key text, status text, minutes_ago int)
     returning id`,
    [events.map((event) => ({ ...event, minutes_ago: event.minutesAgo }))],
  );
  return rows.map((row) => Number(row.id));
}

type Page<T = Record<string, unknown>> = { items: T[]; next_cursor: string | null };

describe('GET /events', () => {
  it('filters by provider, status, key and time, newest first', async () => {
    await receive([
      { provider: 'stripe', key: 'evt_1', minutesAgo: 50 },
      { provider: 'stripe', key: 'evt_2', status: 'failed', minutesAgo: 30 },
      { provider: 'whatsapp', key: 'wamid.1', status: 'processed', minutesAgo: 20 },
      { provider: 'stripe', key: 'evt_3', status: 'processed', minutesAgo: 10 },
    ]);
    const keys = async (query: string) =>
      (await admin.json<Page<{ key: string }>>(SUPPORT, `/events${query}`)).items.map((e) => e.key);
    expect(await keys('')).toEqual(['evt_3', 'wamid.1', 'evt_2', 'evt_1']);
    expect(await keys('?provider=stripe')).toEqual(['evt_3', 'evt_2', 'evt_1']);
    expect(await keys('?status=processed')).toEqual(['evt_3', 'wamid.1']);
    expect(await keys('?key=evt_2')).toEqual(['evt_2']);
    expect(await keys('?provider=whatsapp&key=evt_2')).toEqual([]);
    const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
    expect(await keys(`?since=${at(40)}`)).toEqual(['evt_3', 'wamid.1', 'evt_2']);
    expect(await keys(`?since=${at(40)}&until=${at(15)}`)).toEqual(['wamid.1', 'evt_2']);
    const [first] = (await admin.json<Page>(SUPPORT, '/events?key=evt_3')).items;
    expect(first).toMatchObject({
      provider: 'stripe',
      type: 'test.event',
      status: 'processed',
      request_id: 'req-evt_3',
      job_status: null,
      received_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
  });

  it('pages with a cursor: every event once, in order, at most `limit` a page', async () => {
    const ids = await receive(
      Array.from(
        { length: 7 },
        (_, i) => ({ provider: 'stripe', key: `page_${i}`, minutesAgo: i }),
      ),
    );
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const page: Page<{ id: number }> = await admin.json(ADMIN, `/events?limit=3${query}`);
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((event) => event.id));
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids);
  });

  it('refuses bad input with 400 naming the field', async () => {
    for (
      const [query, field] of [
        ['?limit=101', 'limit'],
        ['?limit=0', 'limit'],
        ['?status=lost', 'status'],
        ['?since=yesterday', 'since'],
        ['?since=2026-12-07T10:00:00Z&until=2026-12-07T09:00:00Z', 'since'],
        ['?cursor=not-a-cursor', 'cursor'],
        ['?key=%00', 'key'],
      ]
    ) {
      const res = await admin.call(ADMIN, `/events${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      const problem = await problemOf(res);
      expect((problem.errors as { path: string }[]).map((error) => error.path)).toContain(field);
    }
  });

  it('shows one event with its payload and its job, and 404 for an id that names none', async () => {
    const [id] = await receive([{ provider: 'stripe', key: 'evt_detail', minutesAgo: 1 }]);
    await enqueueJobs(database.db, [{
      queue: 'stripe',
      kind: 'stripe.event',
      payload: { inbound_event_id: id },
      dedupeKey: 'inbound:stripe:evt_detail',
    }]);
    expect(await admin.json(SUPPORT, `/events/${id}`)).toMatchObject({
      id,
      key: 'evt_detail',
      payload: { key: 'evt_detail' },
      job_status: 'pending',
      jobs: [{ kind: 'stripe.event', status: 'pending', attempts: 0, errors: [] }],
    });
    expect((await admin.call(SUPPORT, `/events/${id! + 1000}`)).status).toBe(404);
    expect((await admin.call(SUPPORT, '/events/abc')).status).toBe(400);
  });
});

describe("operators' budgets", () => {
  it('limit each signed-in operator on their own, and never the service key', async () => {
    const operator = { role: 'operator', sub: crypto.randomUUID() } as const;
    const read = await admin.call(operator, '/flags?limit=1');
    expect(read.status).toBe(200);
    expect(read.headers.get('ratelimit-policy')).toBe('"operator_read";q=3000;w=60');
    await read.arrayBuffer();
    const byKey = await admin.call('service', '/flags?limit=1');
    expect(byKey.status).toBe(200);
    expect(byKey.headers.get('ratelimit-policy')).toBeNull();
    await byKey.arrayBuffer();

    // The operator's write bucket emptied (as 300 changes in a minute would): the next
    // change is refused, and nothing changes.
    const [drained] = await database.db.query<{ granted: number }>(
      'select granted from rate_limit_lease($1, 300, 5, 300)',
      [`admin:operator_write:${operator.sub}`],
    );
    expect(drained!.granted).toBe(300);
    const before = await admin.json<{ rollout_percent: number }>('service', '/flags/intake.stripe');
    const change = {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rollout_percent: before.rollout_percent === 50 ? 60 : 50 }),
    };
    const refused = await admin.call(operator, '/flags/intake.stripe', change);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('ratelimit-policy')).toBe('"operator_write";q=300;w=60');
    expect((await problemOf(refused)).detail).toContain('300 requests a minute');
    expect(await admin.json('service', '/flags/intake.stripe')).toMatchObject({
      rollout_percent: before.rollout_percent,
    });
    // Another operator, and the service key, are not held back by it.
    expect(
      (await admin.call(
        { role: 'admin', sub: crypto.randomUUID() },
        '/flags/intake.stripe',
        change,
      )).status,
    )
      .toBe(200);
    expect((await admin.call('service', '/flags/intake.stripe', change)).status).toBe(200);
  });
});
