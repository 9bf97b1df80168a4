/**
 * The admin API's outbound webhook routes through the real router on a migrated database:
 * endpoints created (the signing secret shown once, never again, never in the audit log),
 * changed under optimistic locking, paused, resumed, rotated, tested, replayed and deleted,
 * each change audited naming the caller; health and the delivery log after deliveries the
 * job engine made to a local receiver that verifies every signature.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createJobRegistry, createJobRunner } from '../functions/_shared/jobs/index.ts';
import {
  emitEvent,
  outboundDelivery,
  RETRY_SCHEDULE_MS,
} from '../functions/_shared/outbound/index.ts';
import { type Caller, send, useAdmin, USER_IDS } from './support/admin.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { problemOf } from './support/test-app.ts';
import { settledMessages } from './support/outbound-settled.ts';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.ts';

const database = useMigratedDatabase({
  reset: 'delete from webhook_endpoints; delete from outbound_events; delete from jobs; ' +
    'delete from dead_jobs; delete from circuit_breakers; delete from rate_limits;',
});
const KEY = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
const admin = useAdmin(database, {}, { GATEHOUSE_ENCRYPTION_KEY: KEY });
/** The same function where no encryption key is configured. */
const keyless = useAdmin(database);

const ADMIN = { role: 'admin' } as const;
const OPERATOR = { role: 'operator' } as const;
const SUPPORT = { role: 'support' } as const;
const ENDPOINTS = '/webhooks/endpoints';

type Json = Record<string, unknown>;
type Page<T = Json> = { items: T[]; next_cursor: string | null };
interface Created extends Json {
  id: string;
  secret: string;
  version: number;
  secrets: { hint: string; expires_at: string | null }[];
}

const receivers: WebhookReceiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
});

/** A receiver and the endpoint delivering to it, created through the API. */
async function endpoint(body: Json = {}, caller: Caller = ADMIN) {
  const target = await startWebhookReceiver();
  receivers.push(target);
  const res = await admin.call(
    caller,
    ENDPOINTS,
    send('POST', { url: target.url, event_types: ['*'], ...body }),
  );
  const created = await res.json() as Created;
  expect({ status: res.status, created }).toMatchObject({ status: 201 });
  target.secrets = [created.secret];
  return { target, created, id: created.id };
}

/** The job engine, its delivery schedule a thousand times faster. */
function engine() {
  const config = parseConfig({ GATEHOUSE_ENCRYPTION_KEY: KEY });
  const outbound = {
    ...outboundDelivery({ config: config.outbound, db: database.db, clock: systemClock }),
    schedule: RETRY_SCHEDULE_MS.map((ms) => ms / 1000),
  };
  return createJobRunner({
    config,
    db: database.db,
    logger: capturedLogger().logger,
    clock: systemClock,
    registry: createJobRegistry({ retentionDays: 7, outbound }),
  });
}

/** Runs the webhooks queue until `done` holds (or 15 s pass). */
async function deliverUntil(done: () => boolean | Promise<boolean>) {
  const runner = engine();
  const deadline = Date.now() + 15_000;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('not delivered within 15 s');
    await runner.pass({ queues: ['webhooks'] });
    await new Promise((next) => setTimeout(next, 5));
  }
}

/** The endpoint's audit rows, oldest first. */
const auditOf = (id: string) =>
  database.db.query<{ actor: string; action: string; request_id: string | null; row: string }>(
    `select actor, action, request_id, (to_jsonb(a) - 'id')::text as row
       from audit_logs a where entity_type = 'webhook_endpoint' and entity_id = $1 order by id`,
    [id],
  );

/** What must never leave the database or reach the audit log: the sealed secrets. */
const ciphertexts = async (id: string) =>
  (await database.db.query<{ ciphertext: string }>(
    'select ciphertext from webhook_endpoint_secrets where endpoint_id = $1',
    [id],
  )).map((row) => row.ciphertext);

describe('creating and reading endpoints', () => {
  it('answers 201 with the secret once; reads show hints only; audited naming the admin', async () => {
    const { created, id } = await endpoint({
      description: 'partner ledger',
      event_types: ['ride.*', 'payment.succeeded'],
      rate_limit_per_second: 10,
      max_in_flight: 2,
    });
    expect(created).toMatchObject({
      description: 'partner ledger',
      event_types: ['ride.*', 'payment.succeeded'],
      status: 'active',
      rate_limit_per_second: 10,
      max_in_flight: 2,
      version: 1,
      created_by: USER_IDS.admin,
      secrets: [{ hint: created.secret.slice(-4), expires_at: null }],
    });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const res = await admin.call(SUPPORT, `${ENDPOINTS}/${id}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe('"1"');
    const read = await res.text();
    const list = JSON.stringify(await admin.json(SUPPORT, ENDPOINTS));
    const [sealed] = await ciphertexts(id);
    for (const answer of [read, list]) {
      expect(answer).toContain(id);
      expect(answer).not.toContain(created.secret.slice(6));
      expect(answer).not.toContain(sealed);
    }
    expect(JSON.parse(read)).not.toHaveProperty('secret');

    const audit = await auditOf(id);
    expect(audit.map(({ actor, action }) => ({ actor, action }))).toEqual([
      { actor: USER_IDS.admin, action: 'webhook_endpoint.insert' },
      { actor: USER_IDS.admin, action: 'webhook_endpoint.secret_added' },
    ]);
    expect(JSON.stringify(audit)).not.toContain(created.secret.slice(6));
    expect(JSON.stringify(audit)).not.toContain(sealed);
  });

  it('refuses URLs the delivery guard would refuse and patterns that match nothing', async () => {
    const bad: [Json, string][] = [
      [{ url: 'ftp://example.com/hook' }, 'url'],
      [{ url: 'http://user:pw@127.0.0.1/hook' }, 'url'],
      [{ url: 'http://10.1.2.3/hook' }, 'url'],
      [{ url: 'http://169.254.169.254/latest/meta-data' }, 'url'],
      [{ url: 'http://127.0.0.1:9/hook#part' }, 'url'],
      [{ url: 'short' }, 'url'],
      [{ event_types: [] }, 'event_types'],
      [{ event_types: ['Ride.Requested'] }, 'event_types.0'],
      [{ event_types: ['ride.'] }, 'event_types.0'],
      [{ event_types: ['ride.*', 'ride.*'] }, 'event_types'],
      [{ max_in_flight: 0 }, 'max_in_flight'],
      [{ rate_limit_per_second: 10_001 }, 'rate_limit_per_second'],
      [{ secret: 'whsec_mine' }, ''],
    ];
    for (const [change, path] of bad) {
      const body = { url: 'http://127.0.0.1:9/hook', event_types: ['*'], ...change };
      const res = await admin.call(ADMIN, ENDPOINTS, send('POST', body));
      const problem = await problemOf(res);
      expect({ change, status: res.status }).toEqual({ change, status: 400 });
      if (path) {
        expect(problem.errors, JSON.stringify(change)).toContainEqual(
          expect.objectContaining({ path }),
        );
      }
    }
    const [{ n }] = await database.db.query<{ n: number }>(
      'select count(*)::int as n from webhook_endpoints',
    ) as [{ n: number }];
    expect(n).toBe(0);
  });

  it('answers 503 naming the variable when no encryption key is configured, storing nothing', async () => {
    const body = { url: 'http://127.0.0.1:9/hook', event_types: ['*'] };
    const [{ last }] = await database.db.query<{ last: string }>(
      'select coalesce(max(id), 0) as last from audit_logs',
    ) as [{ last: string }];
    const res = await keyless.call(ADMIN, ENDPOINTS, send('POST', body));
    expect(res.status).toBe(503);
    expect((await problemOf(res)).detail).toContain('GATEHOUSE_ENCRYPTION_KEY');
    expect(await database.db.query('select id from webhook_endpoints')).toEqual([]);
    expect(
      await database.db.query('select id from audit_logs where id > $1', [last]),
    ).toEqual([]);
  });

  it('lets support read but not write, and plain users nothing', async () => {
    const { id } = await endpoint();
    const body = send('POST', { url: 'http://127.0.0.1:9/hook', event_types: ['*'] });
    expect((await admin.call(SUPPORT, ENDPOINTS, body)).status).toBe(403);
    expect((await admin.call(SUPPORT, `${ENDPOINTS}/${id}/pause`, send('POST', {}))).status)
      .toBe(403);
    expect((await admin.call({ role: 'user' }, ENDPOINTS)).status).toBe(403);
    expect((await admin.call({ role: 'user' }, `${ENDPOINTS}/${id}/deliveries`)).status).toBe(403);
    expect((await admin.call(SUPPORT, `${ENDPOINTS}/${id}/health`)).status).toBe(200);
    expect((await admin.call(OPERATOR, `${ENDPOINTS}/${id}/test`, send('POST', {}))).status)
      .toBe(202);
  });

  it('lists endpoints a page at a time, newest first, filtered by status', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push((await endpoint({ description: `n${i}` })).id);
    await admin.call(ADMIN, `${ENDPOINTS}/${ids[1]}/pause`, send('POST', {}));
    const first = await admin.json<Page<{ id: string }>>(SUPPORT, `${ENDPOINTS}?limit=2`);
    expect(first.items.map((item) => item.id)).toEqual([ids[2], ids[1]]);
    const rest = await admin.json<Page<{ id: string }>>(
      SUPPORT,
      `${ENDPOINTS}?limit=2&cursor=${first.next_cursor}`,
    );
    expect(rest).toEqual({ items: [expect.objectContaining({ id: ids[0] })], next_cursor: null });
    const paused = await admin.json<Page<{ id: string }>>(SUPPORT, `${ENDPOINTS}?status=paused`);
    expect(paused.items.map((item) => item.id)).toEqual([ids[1]]);
    for (const query of ['cursor=12.34', 'cursor=nope', 'status=gone', 'limit=0']) {
      expect((await admin.call(SUPPORT, `${ENDPOINTS}?${query}`)).status).toBe(400);
    }
    expect((await admin.call(SUPPORT, `${ENDPOINTS}/${crypto.randomUUID()}`)).status).toBe(404);
    expect((await admin.call(SUPPORT, `${ENDPOINTS}/not-a-uuid`)).status).toBe(400);
  });
});

describe('changing endpoints', () => {
  it('changes settings under optimistic locking: stale If-Match 412, stale version 409, neither 428', async () => {
    const { id } = await endpoint({ rate_limit_per_second: 5 });
    const path = `${ENDPOINTS}/${id}`;
    const patch = (body: Json, headers: Record<string, string> = {}, caller: Caller = OPERATOR) =>
      admin.call(caller, path, send('PATCH', body, headers));

    const changed = await patch({ description: 'renamed' }, {
      'if-match': '"1"',
      'x-request-id': 'req-rename',
    });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).toBe('"2"');
    expect(await changed.json()).toMatchObject({ description: 'renamed', version: 2 });

    const stale = await patch({ description: 'lost update' }, { 'if-match': '"1"' });
    expect(stale.status).toBe(412);
    expect(stale.headers.get('etag')).toBe('"2"');
    expect(await problemOf(stale)).toMatchObject({ current_version: 2 });
    const staleBody = await patch({ description: 'lost update', version: 1 });
    expect(staleBody.status).toBe(409);
    expect(await problemOf(staleBody)).toMatchObject({ current_version: 2 });
    expect((await patch({ description: 'blind write' })).status).toBe(428);
    expect((await patch({ description: 'x' }, { 'if-match': 'W/"2"' })).status).toBe(400);
    expect((await patch({ version: 2 })).status).toBe(400);
    expect((await patch({ url: 'http://10.0.0.1/x', version: 2 })).status).toBe(400);
    expect((await patch({ max_in_flight: 65, version: 2 })).status).toBe(400);

    const second = await patch({
      rate_limit_per_second: null,
      event_types: ['ride.*'],
      version: 2,
    });
    expect(await second.json()).toMatchObject({
      description: 'renamed',
      rate_limit_per_second: null,
      event_types: ['ride.*'],
      version: 3,
    });
    const unknown = `${ENDPOINTS}/${crypto.randomUUID()}`;
    expect(
      (await admin.call(ADMIN, unknown, send('PATCH', { description: 'x', version: 1 })))
        .status,
    ).toBe(404);
    expect((await patch({ description: 'x', version: 3 }, {}, SUPPORT)).status).toBe(403);

    const updates = (await auditOf(id)).filter((row) => row.action === 'webhook_endpoint.update');
    expect(updates.map(({ actor, request_id }) => ({ actor, request_id }))).toEqual([
      { actor: USER_IDS.operator, request_id: 'req-rename' },
      { actor: USER_IDS.operator, request_id: expect.any(String) },
    ]);
    expect(JSON.parse(updates[0]!.row)).toMatchObject({
      before: { description: '' },
      after: { description: 'renamed' },
    });
  });

  it('pauses (events held), sends a test event, resumes (held events go out), audited', async () => {
    const { target, id } = await endpoint();
    const path = `${ENDPOINTS}/${id}`;
    const paused = await admin.json(
      ADMIN,
      `${path}/pause`,
      send('POST', {
        reason: 'partner maintenance',
      }),
    );
    expect(paused).toMatchObject({ status: 'paused', status_reason: 'partner maintenance' });

    const test = await admin.call(ADMIN, `${path}/test`, send('POST', {}));
    expect(test.status).toBe(202);
    const sent = await test.json() as { event_id: number; message_id: number; status: string };
    expect(sent).toMatchObject({ event_id: expect.any(Number), status: 'held' });
    await database.db.transaction((tx) => emitEvent(tx, 'ride.requested', { ride: 'r1' }));
    await engine().pass({ queues: ['webhooks'] });
    expect(target.received).toEqual([]);

    const resumed = await admin.json(ADMIN, `${path}/resume`, { method: 'POST' });
    expect(resumed).toMatchObject({ endpoint: { status: 'active', status_reason: null } });
    expect(resumed.released).toBe(2);
    await deliverUntil(() => target.received.length === 2);
    expect(target.rejected).toEqual([]);
    expect(target.received.map((r) => r.type).sort()).toEqual(['ride.requested', 'webhook.test']);
    expect(target.received.find((r) => r.type === 'webhook.test')!.data).toMatchObject({
      endpoint_id: id,
    });
    await deliverUntil(async () =>
      (await admin.json<{ status: string }>(SUPPORT, `/webhooks/messages/${sent.message_id}`))
        .status === 'succeeded'
    );
    expect(await admin.json(SUPPORT, `/webhooks/messages/${sent.message_id}`)).toMatchObject({
      event_id: sent.event_id,
      endpoint_id: id,
      event_type: 'webhook.test',
      webhook_id: target.received.find((r) => r.type === 'webhook.test')!.id,
      attempts: 1,
      deliveries: [{ attempt: 1, outcome: 'succeeded', status_code: 200 }],
    });
    expect((await admin.call(SUPPORT, '/webhooks/messages/987654321')).status).toBe(404);

    const audit = await auditOf(id);
    expect(audit.slice(2).map(({ actor, action }) => ({ actor, action }))).toEqual([
      { actor: USER_IDS.admin, action: 'webhook_endpoint.update' },
      { actor: USER_IDS.admin, action: 'webhook_endpoint.test_event' },
      { actor: USER_IDS.admin, action: 'webhook_endpoint.update' },
    ]);
    expect(audit[2]!.row).toContain('"status": "paused"');
    expect(JSON.parse(audit[3]!.row).after).toEqual({
      event_id: sent.event_id,
      message_id: sent.message_id,
      status: 'held',
    });
    expect(audit[3]!.request_id).toEqual(expect.any(String));

    const unknown = `${ENDPOINTS}/${crypto.randomUUID()}`;
    for (const action of ['pause', 'resume', 'test', 'rotate-secret']) {
      expect((await admin.call(ADMIN, `${unknown}/${action}`, { method: 'POST' })).status)
        .toBe(404);
    }
    // No body is a pause without a reason.
    expect(await admin.json(ADMIN, `${path}/pause`, { method: 'POST' })).toMatchObject({
      status: 'paused',
      status_reason: 'paused by an operator',
    });
  });

  it('rotates the secret: the new one shown once, the old one signing beside it for the overlap', async () => {
    const { target, id, created } = await endpoint();
    const path = `${ENDPOINTS}/${id}`;
    const before = Date.now();
    const res = await admin.call(
      ADMIN,
      `${path}/rotate-secret`,
      send('POST', {
        overlap_hours: 1,
      }),
    );
    const rotated = await res.json() as {
      secret: string;
      previous_secrets_expire_at: string;
      secrets: { hint: string; expires_at: string | null }[];
    };
    expect(res.status).toBe(200);
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(created.secret);
    const ends = Date.parse(rotated.previous_secrets_expire_at);
    expect(ends - before).toBeGreaterThan(3_590_000);
    expect(ends - before).toBeLessThan(3_700_000);
    expect(rotated.secrets).toEqual([
      expect.objectContaining({ hint: rotated.secret.slice(-4), expires_at: null }),
      expect.objectContaining({
        hint: created.secret.slice(-4),
        expires_at: rotated.previous_secrets_expire_at,
      }),
    ]);

    target.secrets = [created.secret, rotated.secret];
    await admin.call(ADMIN, `${path}/test`, { method: 'POST' });
    await deliverUntil(() => target.received.length === 1);
    expect(target.received[0]).toMatchObject({ signatures: 2, verifiedBy: [0, 1] });

    // Without a body: the configured overlap, 24 hours.
    const again = await admin.json<{ previous_secrets_expire_at: string }>(
      OPERATOR,
      `${path}/rotate-secret`,
      { method: 'POST' },
    );
    expect(Date.parse(again.previous_secrets_expire_at) - Date.now()).toBeGreaterThan(
      23.9 * 3_600_000,
    );
    const read = await admin.call(SUPPORT, path);
    const text = await read.text();
    expect(JSON.parse(text).secrets).toHaveLength(3);
    const audit = JSON.stringify(await auditOf(id));
    for (const secret of [created.secret, rotated.secret]) {
      expect(text).not.toContain(secret.slice(6));
      expect(audit).not.toContain(secret.slice(6));
    }
    for (const sealed of await ciphertexts(id)) {
      expect(text).not.toContain(sealed);
      expect(audit).not.toContain(sealed);
    }
    expect((await auditOf(id)).slice(2).map(({ actor, action }) => `${actor} ${action}`)).toEqual([
      `${USER_IDS.admin} webhook_endpoint.secret_changed`,
      `${USER_IDS.admin} webhook_endpoint.secret_added`,
      `${USER_IDS.admin} webhook_endpoint.test_event`,
      // The first secret already ends sooner: only the second is given an end.
      `${USER_IDS.operator} webhook_endpoint.secret_changed`,
      `${USER_IDS.operator} webhook_endpoint.secret_added`,
    ]);
    const refused = await keyless.call(ADMIN, `${path}/rotate-secret`, { method: 'POST' });
    expect(refused.status).toBe(503);
    expect(
      (await admin.call(
        ADMIN,
        `${path}/rotate-secret`,
        send('POST', {
          overlap_hours: 721,
        }),
      )).status,
    ).toBe(400);
  });

  it('deletes an endpoint with its secrets, audited', async () => {
    const { id } = await endpoint();
    const res = await admin.call(ADMIN, `${ENDPOINTS}/${id}`, {
      method: 'DELETE',
      headers: { 'x-request-id': 'req-delete' },
    });
    expect(res.status).toBe(204);
    expect((await admin.call(ADMIN, `${ENDPOINTS}/${id}`)).status).toBe(404);
    expect((await admin.call(ADMIN, `${ENDPOINTS}/${id}`, { method: 'DELETE' })).status).toBe(404);
    const audit = (await auditOf(id)).slice(2);
    expect(audit.map(({ actor, action, request_id }) => ({ actor, action, request_id })))
      .toEqual(expect.arrayContaining([
        { actor: USER_IDS.admin, action: 'webhook_endpoint.delete', request_id: 'req-delete' },
        {
          actor: USER_IDS.admin,
          action: 'webhook_endpoint.secret_removed',
          request_id: 'req-delete',
        },
      ]));
    expect(audit).toHaveLength(2);
  });
});

describe('health and the delivery log', () => {
  it('reports attempts, success rate, latency and the last error; pages and filters attempts', async () => {
    const { target, id } = await endpoint();
    target.script.push({ status: 500, body: 'boom' });
    const emit = (n: number) =>
      database.db.transaction((tx) => emitEvent(tx, 'ride.updated', { n }));
    await emit(1);
    await deliverUntil(() => target.received.length === 2);
    await emit(2);
    await deliverUntil(async () =>
      (await database.db.query(
          `select 1 from outbound_messages where endpoint_id = $1 and status <> 'succeeded'`,
          [id],
        )).length === 0 && target.received.length === 3
    );

    const health = await admin.json(SUPPORT, `${ENDPOINTS}/${id}/health`);
    expect(health).toMatchObject({
      status: 'active',
      breaker: 'closed',
      backlog: {},
      oldest_backlog_ms: null,
      window_hours: 24,
      attempts: 3,
      succeeded: 2,
      failed: 1,
      last_error: 'HTTP 500',
      latency_ms: { p50: expect.any(Number), p99: expect.any(Number) },
    });
    expect(health.success_rate).toBeCloseTo(2 / 3);
    expect((await admin.call(SUPPORT, `${ENDPOINTS}/${id}/health?window_hours=0`)).status)
      .toBe(400);

    const log = `${ENDPOINTS}/${id}/deliveries`;
    const first = await admin.json<Page>(SUPPORT, `${log}?limit=2`);
    expect(first.items.map((d) => [d.event_type, d.attempt, d.status_code])).toEqual([
      ['ride.updated', 1, 200],
      ['ride.updated', 2, 200],
    ]);
    const rest = await admin.json<Page>(SUPPORT, `${log}?limit=2&cursor=${first.next_cursor}`);
    expect(rest.items).toEqual([expect.objectContaining({
      attempt: 1,
      outcome: 'failed',
      status_code: 500,
      error: 'HTTP 500',
      response_excerpt: 'boom',
      duration_ms: expect.any(Number),
    })]);
    expect(rest.next_cursor).toBeNull();
    const failed = await admin.json<Page>(SUPPORT, `${log}?outcome=failed`);
    expect(failed.items.map((d) => d.status_code)).toEqual([500]);
    const later = new Date(Date.now() + 60_000).toISOString();
    expect((await admin.json<Page>(SUPPORT, `${log}?since=${later}`)).items).toEqual([]);
    expect((await admin.call(SUPPORT, `${log}?cursor=x`)).status).toBe(400);
    expect((await admin.call(SUPPORT, `${log}?outcome=maybe`)).status).toBe(400);
    const unknown = `${ENDPOINTS}/${crypto.randomUUID()}`;
    expect((await admin.call(SUPPORT, `${unknown}/deliveries`)).status).toBe(404);
    expect((await admin.call(SUPPORT, `${unknown}/health`)).status).toBe(404);
  });
});

describe("replaying an endpoint's messages", () => {
  const replay = (id: string, body: Json, caller: Caller = OPERATOR, headers = {}) =>
    admin.call(caller, `${ENDPOINTS}/${id}/replay`, send('POST', body, headers));
  const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000).toISOString();

  const settled = (id: string, statuses: string[], hoursAgo = 0) =>
    settledMessages(database.db, id, statuses, hoursAgo);

  /** The messages' status and attempts, and how many delivery jobs each has. */
  const states = (ids: number[]) =>
    database.db.query<{ status: string; attempts: number; jobs: number }>(
      `select m.status, m.attempts,
              (select count(*)::int from jobs j where j.kind = 'webhook.deliver'
                  and (j.payload ->> 'message_id')::bigint = m.id) as jobs
         from outbound_messages m where m.id = any($1::bigint[]) order by m.id`,
      [ids],
    );

  const replayAudit = async (id: string) =>
    (await auditOf(id)).filter((row) => row.action === 'webhook_endpoint.replay')
      .map((row) => ({ ...row, ...JSON.parse(row.row) }));

  it('replays the failed messages of the range only, audited naming the caller, and they go out again', async () => {
    const { target, id } = await endpoint();
    const [old] = await settled(id, ['failed'], 3);
    const failed = await settled(id, ['failed', 'failed', 'failed'], 1);
    const [delivered] = await settled(id, ['succeeded'], 1);
    const [later] = await settled(id, ['failed']);

    const res = await replay(id, { since: hoursAgo(2), until: hoursAgo(0.5) }, OPERATOR, {
      'x-request-id': 'req-replay',
    });
    const body = await res.json();
    expect({ status: res.status, body }).toEqual({
      status: 200,
      body: { replayed: 3, remaining: 0, next_after_message: null, until: expect.any(String) },
    });
    expect(await states(failed)).toEqual(
      failed.map(() => ({ status: 'pending', attempts: 0, jobs: 1 })),
    );
    expect(await states([old!, delivered!, later!])).toEqual([
      { status: 'failed', attempts: 8, jobs: 0 },
      { status: 'succeeded', attempts: 8, jobs: 0 },
      { status: 'failed', attempts: 8, jobs: 0 },
    ]);
    expect(await replayAudit(id)).toEqual([expect.objectContaining({
      actor: USER_IDS.operator,
      request_id: 'req-replay',
      entity_type: 'webhook_endpoint',
      after: { replayed: 3 },
      context: expect.objectContaining({ include_succeeded: false }),
    })]);

    await deliverUntil(() => target.received.length === 3);
    expect(target.rejected).toEqual([]);
    expect(target.received.map((r) => r.data.n).sort()).toEqual([0, 1, 2]);

    // Without `until` the range ends now; nothing failed is left in it but the later one.
    const again = await replay(id, { since: hoursAgo(2) }, ADMIN);
    expect(await again.json()).toMatchObject({ replayed: 1, remaining: 0 });
    expect(await states([later!])).toEqual([{ status: 'pending', attempts: 0, jobs: 1 }]);
    expect((await replayAudit(id)).map((row) => row.actor)).toEqual([
      USER_IDS.operator,
      USER_IDS.admin,
    ]);
  });

  it('looks at 5,000 messages per request at most, and says how many remain and where to go on', async () => {
    const { id } = await endpoint();
    // 5,200 delivered messages of events emitted an hour ago, made at once.
    await database.db.query(
      `with events as (
         insert into outbound_events (type, payload, created_at)
         select 'ride.updated', jsonb_build_object('n', n), now() - interval '1 hour'
           from generate_series(1, 5200) n
         returning id)
       insert into outbound_messages (event_id, endpoint_id, status, attempts, finished_at)
       select id, $1, 'succeeded', 1, now() from events`,
      [id],
    );
    const range = { since: hoursAgo(2), include_succeeded: true };
    const first = await replay(id, range);
    const page = await first.json() as {
      replayed: number;
      remaining: number;
      next_after_message: number;
      until: string;
    };
    expect(first.status).toBe(200);
    expect(page).toMatchObject({ replayed: 5000, remaining: 200 });
    const count = async (status: string) =>
      (await database.db.query<{ n: number }>(
        'select count(*)::int as n from outbound_messages where endpoint_id = $1 and status = $2',
        [id, status],
      ))[0]!.n;
    expect(await count('pending')).toBe(5000);

    // The replayed ones are delivered again meanwhile: going on from where the first
    // request stopped replays the other 200, not those.
    await database.db.query(
      `update outbound_messages set status = 'succeeded' where endpoint_id = $1`,
      [id],
    );
    const rest = await replay(id, {
      ...range,
      until: page.until,
      after_message: page.next_after_message,
    });
    expect(await rest.json()).toEqual({
      replayed: 200,
      remaining: 0,
      next_after_message: null,
      until: page.until,
    });
    expect([await count('pending'), await count('succeeded')]).toEqual([200, 5000]);
    const [{ n }] = await database.db.query<{ n: number }>(
      `select count(*)::int as n from jobs where kind = 'webhook.deliver'`,
    ) as [{ n: number }];
    expect(n).toBe(5200);
    const audit = await replayAudit(id);
    expect(audit.map((row) => row.after.replayed)).toEqual([...Array(10).fill(500), 200]);
  });

  it('refuses support (403), an unknown endpoint (404) and a bad range (400), replaying nothing', async () => {
    const { id } = await endpoint();
    const failed = await settled(id, ['failed'], 1);
    expect((await replay(id, { since: hoursAgo(2) }, SUPPORT)).status).toBe(403);
    const unknown = await replay(crypto.randomUUID(), { since: hoursAgo(2) });
    expect(unknown.status).toBe(404);
    expect((await problemOf(unknown)).detail).toBe('no such endpoint');

    const bad: [Json, string][] = [
      [{}, 'since'],
      [{ since: 'yesterday' }, 'since'],
      [{ since: '2026-12-07' }, 'since'],
      [{ since: '2026-12-07T09:00:00' }, 'since'],
      [{ since: hoursAgo(1), until: hoursAgo(2) }, 'since'],
      [{ since: new Date(Date.now() + 3_600_000).toISOString() }, 'since'],
      [{ since: hoursAgo(2), include_succeeded: 'yes' }, 'include_succeeded'],
      [{ since: hoursAgo(2), after_message: -1 }, 'after_message'],
      [{ since: hoursAgo(2), force: true }, ''],
    ];
    for (const [body, path] of bad) {
      const res = await replay(id, body);
      const problem = await problemOf(res);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      if (path) {
        expect(problem.errors, JSON.stringify(body)).toContainEqual(
          expect.objectContaining({ path }),
        );
      }
    }
    expect(await states(failed)).toEqual([{ status: 'failed', attempts: 8, jobs: 0 }]);
    expect(await replayAudit(id)).toEqual([]);
  });
});
