/**
 * The audit log's one way to shrink: `audit_logs_purge(older_than)` keeps at least 30 days,
 * deletes only what is older, and leaves a row saying so; every other delete, update and
 * truncate is refused, and only the service role may purge.
 */
import { describe, expect, it } from 'vitest';
import { useMigratedDatabase } from './support/migrated.ts';
import { asRole, sqlState } from './support/rls.ts';

const database = useMigratedDatabase();

/** Audit rows written `daysAgo` days ago for entity `id`. */
async function backdated(id: string, daysAgo: readonly number[]): Promise<void> {
  await database.db.query(
    `insert into audit_logs (created_at, action, entity_type, entity_id, ip, user_agent)
     select now() - make_interval(days => d), 'probe.purge', 'purge-test', $1,
            '203.0.113.7', 'probe/1.0'
       from unnest($2::int[]) d`,
    [id, daysAgo],
  );
}

const ages = (id: string) =>
  database.db.query<{ days: number }>(
    `select extract(day from now() - created_at)::int as days from audit_logs
      where entity_id = $1 order by created_at`,
    [id],
  );

describe('audit_logs_purge', () => {
  it('deletes rows older than asked, keeps the rest, and records that it did', async () => {
    const id = crypto.randomUUID();
    await backdated(id, [400, 100, 31, 29, 1]);
    const deleted = await asRole(database.db, 'service_role', async (tx) => {
      const [row] = await tx.query<{ deleted: string }>(
        `select audit_logs_purge(interval '90 days') as deleted`,
      );
      const [record] = await tx.query<{ actor: string; after: Record<string, unknown> }>(
        `select actor, after from audit_logs where action = 'audit_logs.purge'
          order by id desc limit 1`,
      );
      const left = await tx.query<{ days: number }>(
        `select extract(day from now() - created_at)::int as days from audit_logs
          where entity_id = $1 order by created_at`,
        [id],
      );
      return { count: Number(row!.deleted), record, left: left.map((r) => r.days) };
    }, { role: 'service_role', sub: 'ops-admin' });
    expect(deleted.count).toBe(2);
    expect(deleted.left).toEqual([31, 29, 1]);
    expect(deleted.record).toEqual({
      actor: 'ops-admin',
      after: { older_than: '90 days', deleted: deleted.count },
    });
    // asRole rolled it back: the rows are all still there.
    expect((await ages(id)).map((row) => row.days)).toEqual([400, 100, 31, 29, 1]);
  });

  it('keeps at least 30 days', async () => {
    for (const interval of [`interval '29 days'`, `interval '1 hour'`, `null`]) {
      expect(
        await sqlState(() =>
          asRole(
            database.db,
            'service_role',
            (tx) => tx.query(`select audit_logs_purge(${interval})`),
          )
        ),
      ).toBe('22023');
    }
  });

  it('is the service role alone: anon and signed-in users may not call it', async () => {
    for (const role of ['anon', 'authenticated'] as const) {
      expect(
        await sqlState(() =>
          asRole(database.db, role, (tx) => tx.query(`select audit_logs_purge(interval '1 year')`))
        ),
      ).toBe('42501');
    }
  });

  it('leaves every other way refused: delete, update and truncate, even by the owner', async () => {
    const id = crypto.randomUUID();
    await backdated(id, [400]);
    for (
      const statement of [
        `delete from audit_logs where entity_id = '${id}'`,
        `update audit_logs set actor = 'someone else' where entity_id = '${id}'`,
        `truncate audit_logs`,
      ]
    ) {
      // The table's owner (this connection) is refused too.
      expect(await sqlState(() => database.db.query(statement))).toBe('42501');
      // The service role may read and append only, whatever its transaction claims to be.
      expect(
        await sqlState(() =>
          asRole(database.db, 'service_role', async (tx) => {
            await tx.query(`select set_config('gatehouse.audit_purge', 'on', true)`);
            await tx.query(statement);
          })
        ),
      ).toBe('42501');
    }
    expect((await ages(id)).map((row) => row.days)).toEqual([400]);
  });

  it('keeps where a change came from', async () => {
    const id = crypto.randomUUID();
    await backdated(id, [0]);
    const [row] = await database.db.query<{ ip: string; user_agent: string }>(
      `select host(ip) as ip, user_agent from audit_logs where entity_id = $1`,
      [id],
    );
    expect(row).toEqual({ ip: '203.0.113.7', user_agent: 'probe/1.0' });
  });
});
