/**
 * The admin API's feature flags and audit log through the real router on a migrated
 * database: flags listed, toggled and rolled out, each change audit-logged in its own
 * transaction with the caller, request id, ip and user agent; a flag's history and the
 * audit log filtered and paged.
 */
import { describe, expect, it } from 'vitest';
import { send, useAdmin, USER_IDS } from './support/admin.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const database = useMigratedDatabase();
const admin = useAdmin(database);
const ADMIN = { role: 'admin' } as const;
const SUPPORT = { role: 'support' } as const;

type Page<T = Record<string, unknown>> = { items: T[]; next_cursor: string | null };

/** The audit rows of flag `key`, oldest first. */
const flagAudit = (key: string) =>
  database.db.query(
    `select actor, action, before ->> 'enabled' as was, after ->> 'enabled' as is,
            after ->> 'rollout_percent' as rollout, request_id, host(ip) as ip, user_agent
       from audit_logs where entity_type = 'feature_flag' and entity_id = $1 order by id`,
    [key],
  );

describe('/flags', () => {
  it('lists every flag and shows one', async () => {
    const { items } = await admin.json<{ items: { key: string }[] }>(SUPPORT, '/flags');
    expect(items.map((flag) => flag.key)).toEqual(
      expect.arrayContaining(['intake.stripe', 'processing.stripe']),
    );
    expect(await admin.json(SUPPORT, '/flags/intake.stripe')).toMatchObject({
      key: 'intake.stripe',
      enabled: true,
      rollout_percent: 100,
      groups: [],
      environments: [],
    });
    expect((await admin.call(SUPPORT, '/flags/no.such.flag')).status).toBe(404);
  });

  it('toggles a flag and changes its rollout; each change audited with its actor, in the same transaction', async () => {
    const key = `admin.test.${crypto.randomUUID().slice(0, 8)}`;
    await database.db.query(`insert into feature_flags (key, description) values ($1, 'test')`, [
      key,
    ]);
    const headers = {
      'x-request-id': 'req-toggle-1',
      'x-forwarded-for': '198.51.100.7',
      'user-agent': 'console/1.0',
    };
    const toggled = await admin.call(
      ADMIN,
      `/flags/${key}`,
      send('PATCH', { enabled: false }, headers),
    );
    expect(toggled.status).toBe(200);
    expect(await toggled.json()).toMatchObject({
      key,
      enabled: false,
      updated_by: USER_IDS.admin,
    });
    const rollout = await admin.call(
      'service',
      `/flags/${key}`,
      send('PATCH', { rollout_percent: 25, groups: ['drivers'] }, {
        'x-request-id': 'req-rollout-1',
      }),
    );
    expect(await rollout.json()).toMatchObject({
      rollout_percent: 25,
      groups: ['drivers'],
      updated_by: 'service key',
    });
    const [row] = await database.db.query(
      'select enabled, rollout_percent from feature_flags where key = $1',
      [key],
    );
    expect(row).toEqual({ enabled: false, rollout_percent: 25 });
    expect((await flagAudit(key)).slice(1)).toEqual([
      {
        actor: USER_IDS.admin,
        action: 'feature_flag.update',
        was: 'true',
        is: 'false',
        rollout: '100',
        request_id: 'req-toggle-1',
        ip: '198.51.100.7',
        user_agent: 'console/1.0',
      },
      {
        actor: 'service key',
        action: 'feature_flag.update',
        was: 'false',
        is: 'false',
        rollout: '25',
        request_id: 'req-rollout-1',
        ip: null,
        user_agent: null,
      },
    ]);

    // A change the database refuses leaves neither the change nor an audit row.
    const refused = await admin.call(
      ADMIN,
      `/flags/${key}`,
      send('PATCH', {
        enabled: true,
        min_app_version: 'not semver',
      }),
    );
    expect(refused.status).toBe(400);
    expect(await flagAudit(key)).toHaveLength(3);
    expect((await admin.json(ADMIN, `/flags/${key}`)).enabled).toBe(false);

    // The history, newest first, a page at a time.
    const first = await admin.json<Page<Record<string, unknown>>>(
      { role: 'operator' },
      `/flags/${key}/history?limit=2`,
    );
    expect(first.items.map((entry) => [entry.action, entry.actor])).toEqual([
      ['feature_flag.update', 'service key'],
      ['feature_flag.update', USER_IDS.admin],
    ]);
    expect(first.items[1]).toMatchObject({
      entity_type: 'feature_flag',
      entity_id: key,
      before: { enabled: true },
      after: { enabled: false },
      request_id: 'req-toggle-1',
      ip: '198.51.100.7',
      user_agent: 'console/1.0',
    });
    const second = await admin.json<Page<Record<string, unknown>>>(
      { role: 'operator' },
      `/flags/${key}/history?limit=2&cursor=${first.next_cursor}`,
    );
    expect(second.items.map((entry) => entry.action)).toEqual(['feature_flag.insert']);
    expect(second.next_cursor).toBeNull();
  });

  it('refuses a change that is not one: 400 for bad values, 404 for no such flag', async () => {
    for (
      const body of [{}, { enabled: 'yes' }, { rollout_percent: 101 }, { nope: true }, {
        groups: [''],
      }]
    ) {
      const res = await admin.call(ADMIN, '/flags/intake.stripe', send('PATCH', body));
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
    expect(
      (await admin.call(ADMIN, '/flags/no.such.flag', send('PATCH', { enabled: false })))
        .status,
    ).toBe(404);
    expect((await admin.call(ADMIN, '/flags/no.such.flag/history')).status).toBe(404);
    expect((await admin.call(ADMIN, '/flags/Not%20A%20Key')).status).toBe(400);
    // Support may look, not touch: flags:write and audit:read are not theirs.
    expect(
      (await admin.call(SUPPORT, '/flags/intake.stripe', send('PATCH', { enabled: false })))
        .status,
    ).toBe(403);
    expect((await admin.json(SUPPORT, '/flags/intake.stripe')).enabled).toBe(true);
  });
});

describe('GET /audit', () => {
  it('filters by actor, action, entity and time, and pages newest first', async () => {
    const entity = crypto.randomUUID();
    await database.db.query(
      `insert into audit_logs (created_at, actor, action, entity_type, entity_id)
       values (now() - interval '3 hours', 'ops-a', 'probe.one', 'probe', $1),
              (now() - interval '2 hours', 'ops-b', 'probe.two', 'probe', $1),
              (now() - interval '1 hour', 'ops-a', 'probe.two', 'probe', $1)`,
      [entity],
    );
    const actions = async (query: string) =>
      (await admin.json<Page<{ actor: string; action: string }>>(
        ADMIN,
        `/audit?entity_id=${entity}${query}`,
      )).items.map((entry) => `${entry.actor} ${entry.action}`);
    expect(await actions('')).toEqual(['ops-a probe.two', 'ops-b probe.two', 'ops-a probe.one']);
    expect(await actions('&actor=ops-a')).toEqual(['ops-a probe.two', 'ops-a probe.one']);
    expect(await actions('&action=probe.two')).toEqual(['ops-a probe.two', 'ops-b probe.two']);
    expect(await actions('&entity_type=other')).toEqual([]);
    const at = (hoursAgo: number) => new Date(Date.now() - hoursAgo * 3_600_000).toISOString();
    expect(await actions(`&since=${at(2.5)}&until=${at(1.5)}`)).toEqual(['ops-b probe.two']);

    const first = await admin.json<Page<{ action: string }>>(
      ADMIN,
      `/audit?entity_id=${entity}&limit=2`,
    );
    expect(first.items).toHaveLength(2);
    const rest = await admin.json<Page<{ actor: string; action: string }>>(
      ADMIN,
      `/audit?entity_id=${entity}&limit=2&cursor=${first.next_cursor}`,
    );
    expect(rest.items.map((entry) => `${entry.actor} ${entry.action}`)).toEqual([
      'ops-a probe.one',
    ]);
    expect(rest.next_cursor).toBeNull();
  });

  it('is for audit:read alone: support is refused', async () => {
    expect((await admin.call(SUPPORT, '/audit')).status).toBe(403);
    expect((await admin.call({ role: 'operator' }, '/audit?limit=1')).status).toBe(200);
  });
});
