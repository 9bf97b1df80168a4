import { describe, expect, it } from 'vitest';
import { createMigratedDatabase, useMigratedDatabase } from '../../../tests/support/migrated.ts';
import { systemClock } from '../clock.ts';
import { createFlagReader, FLAG_MAX_AGE_MS, FLAG_REFRESH_WAIT_MS } from './index.ts';
import { createPostgresDb } from '../db/postgres.ts';
import type { Queryable } from '../db/types.ts';
import { startBlackHole } from '../../../tests/support/black-hole.ts';

const database = useMigratedDatabase();

function manualClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('createFlagReader', () => {
  it('treats a flag with no row as enabled, and reads seeded switches', async () => {
    const flags = createFlagReader(database.db, { clock: systemClock });
    expect(await flags.isEnabled('no.such.flag')).toBe(true);
    expect(await flags.isEnabled('intake.whatsapp')).toBe(true);
  });

  it('keeps its snapshot for maxAge, then sees the SQL update', async () => {
    const clock = manualClock();
    const flags = createFlagReader(database.db, { clock });
    expect(await flags.isEnabled('intake.stripe')).toBe(true);
    await database.db.query(`update feature_flags set enabled = false where key = 'intake.stripe'`);
    clock.advance(FLAG_MAX_AGE_MS - 1);
    expect(await flags.isEnabled('intake.stripe')).toBe(true);
    clock.advance(1);
    expect(await flags.isEnabled('intake.stripe')).toBe(false);
    await database.db.query(`update feature_flags set enabled = true where key = 'intake.stripe'`);
  });

  it('sees an operator update within 2 seconds of wall time', async () => {
    const flags = createFlagReader(database.db, { clock: systemClock });
    expect(await flags.isEnabled('intake.paypal')).toBe(true);
    await database.db.query(`update feature_flags set enabled = false where key = 'intake.paypal'`);
    const changedAt = Date.now();
    while (await flags.isEnabled('intake.paypal')) {
      expect(Date.now() - changedAt).toBeLessThan(2_000);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(Date.now() - changedAt).toBeLessThan(2_000);
    await database.db.query(`update feature_flags set enabled = true where key = 'intake.paypal'`);
  });

  it('shares one refresh between concurrent callers', async () => {
    let queries = 0;
    const counting = {
      query: <T extends Record<string, unknown>>(text: string, values?: readonly unknown[]) => {
        queries += 1;
        return database.db.query<T>(text, values);
      },
      exec: (text: string) => database.db.exec(text),
    };
    const flags = createFlagReader(counting, { clock: manualClock() });
    await Promise.all(Array.from({ length: 20 }, () => flags.isEnabled('intake.ussd')));
    expect(queries).toBe(1);
  });

  it('answers from the last snapshot when the database goes away, and reports it', async () => {
    const other = await createMigratedDatabase();
    await other.db.query(`update feature_flags set enabled = false where key = 'intake.ussd'`);
    const clock = manualClock();
    const stale: unknown[] = [];
    const flags = createFlagReader(other.db, { clock, onStale: (error) => stale.push(error) });
    expect(await flags.isEnabled('intake.ussd')).toBe(false);
    await other.drop();
    clock.advance(FLAG_MAX_AGE_MS * 5);
    expect(await flags.isEnabled('intake.ussd')).toBe(false);
    expect(stale).toHaveLength(1);
    // A reader that never loaded has nothing to fall back on.
    const fresh = createFlagReader(other.db, { clock });
    await expect(fresh.isEnabled('intake.ussd')).rejects.toThrow();
  });

  it('answers from its last snapshot within the refresh wait when the database hangs', async () => {
    const hole = await startBlackHole();
    const hung = createPostgresDb({ url: `postgres://u@127.0.0.1:${hole.port}/db`, max: 1 });
    let target: Queryable = database.db;
    const switching: Queryable = {
      query: (text, values) => target.query(text, values),
      exec: (text) => target.exec(text),
    };
    try {
      const clock = manualClock();
      const flags = createFlagReader(switching, { clock });
      expect(await flags.isEnabled('intake.stripe')).toBe(true);
      target = hung; // accepts the connection, never answers
      clock.advance(FLAG_MAX_AGE_MS);
      const started = performance.now();
      expect(await flags.isEnabled('intake.stripe')).toBe(true);
      const waited = performance.now() - started;
      expect(waited).toBeGreaterThanOrEqual(FLAG_REFRESH_WAIT_MS - 5);
      expect(waited).toBeLessThan(FLAG_REFRESH_WAIT_MS + 500);
    } finally {
      await hung.close(0);
      await hole.close();
    }
  });
});

describe('flag targeting and versions', () => {
  /** A Queryable over the test database that counts what it is asked. */
  function counting() {
    const asked = { loads: 0, versionChecks: 0 };
    const db: Queryable = {
      query: <T extends Record<string, unknown>>(text: string, values?: readonly unknown[]) => {
        if (text.includes('left join public.feature_flags')) asked.loads += 1;
        else if (text.includes('feature_flags_version')) asked.versionChecks += 1;
        return database.db.query<T>(text, values);
      },
      exec: (text: string) => database.db.exec(text),
    };
    return { db, asked };
  }

  it('checks the version each maxAge and re-reads the rows only when it moved', async () => {
    const clock = manualClock();
    const { db, asked } = counting();
    const flags = createFlagReader(db, { clock });
    expect(await flags.isEnabled('intake.standard')).toBe(true);
    expect(asked).toEqual({ loads: 1, versionChecks: 0 });
    for (let i = 0; i < 3; i += 1) {
      clock.advance(FLAG_MAX_AGE_MS);
      expect(await flags.isEnabled('intake.standard')).toBe(true);
    }
    expect(asked).toEqual({ loads: 1, versionChecks: 3 });
    await database.db.query(
      `update feature_flags set enabled = false where key = 'intake.standard'`,
    );
    clock.advance(FLAG_MAX_AGE_MS);
    expect(await flags.isEnabled('intake.standard')).toBe(false);
    expect(asked).toEqual({ loads: 2, versionChecks: 4 });
    await database.db.query(
      `update feature_flags set enabled = true where key = 'intake.standard'`,
    );
  });

  it('moves the version only when the change commits', async () => {
    const version = async () =>
      (await database.db.query<{ version: string }>(
        'select version::text as version from gatehouse.feature_flags_version',
      ))[0]!.version;
    const before = await version();
    const other = database.connect({ max: 1 });
    let seenInside = '';
    try {
      await other.transaction(async (tx) => {
        await tx.query(
          `update feature_flags set description = 'changing' where key = 'intake.ussd'`,
        );
        // Another connection, mid-transaction: the change and its version are not visible yet.
        if (database.kind === 'postgres') seenInside = await version();
      });
    } finally {
      await other.close();
    }
    if (database.kind === 'postgres') expect(seenInside).toBe(before);
    expect(BigInt(await version())).toBe(BigInt(before) + 1n);
  });

  it('evaluates the rows targeting, in the reader environment', async () => {
    await database.db.query(
      `insert into feature_flags (key, description, environments, groups, rollout_percent, min_app_version)
       values ('test.prod_only', 'production only', '{production}', '{}', 100, null),
              ('test.beta', 'beta testers, half of them', '{}', '{beta}', 50, null),
              ('test.v2', 'app 2.0.0 and later', '{}', '{}', 100, '2.0.0')`,
    );
    try {
      const production = createFlagReader(database.db, {
        clock: manualClock(),
        environment: 'production',
      });
      const development = createFlagReader(database.db, {
        clock: manualClock(),
        environment: 'development',
      });
      expect(await production.isEnabled('test.prod_only')).toBe(true);
      expect(await development.isEnabled('test.prod_only')).toBe(false);
      expect(await development.evaluate('test.prod_only')).toEqual({
        on: false,
        reason: 'environment',
      });
      // A context naming its environment wins over the reader's.
      expect((await development.evaluate('test.prod_only', { environment: 'production' })).on)
        .toBe(true);
      // Group targeting, then the sticky rollout: about half the beta testers, none outside.
      let on = 0;
      for (let i = 0; i < 2_000; i += 1) {
        const subject = `user-${i}`;
        const inBeta = await production.evaluate('test.beta', { subject, groups: ['beta'] });
        const outside = await production.evaluate('test.beta', { subject, groups: ['user'] });
        expect(outside).toEqual({ on: false, reason: 'group' });
        if (inBeta.on) on += 1;
      }
      expect(on).toBeGreaterThan(2_000 * 0.45);
      expect(on).toBeLessThan(2_000 * 0.55);
      expect(await production.isEnabled('test.beta')).toBe(false); // no one in particular
      expect((await production.evaluate('test.v2', { appVersion: '2.0.1' })).on).toBe(true);
      expect(await production.evaluate('test.v2', { appVersion: '1.9.9' })).toEqual({
        on: false,
        reason: 'app_version',
      });
      const all = await production.all({ subject: 'user-1', appVersion: '2.0.0' });
      expect(all).toMatchObject({ 'test.prod_only': true, 'test.v2': true, 'intake.stripe': true });
    } finally {
      await database.db.query(`delete from feature_flags where key like 'test.%'`);
    }
  });

  it('sees a change made through another instance pool within 2 seconds', async () => {
    const first = database.connect({ max: 1 });
    const second = database.connect({ max: 1 });
    try {
      const a = createFlagReader(first, { clock: systemClock });
      const b = createFlagReader(second, { clock: systemClock });
      expect(await a.isEnabled('processing.paypal')).toBe(true);
      expect(await b.isEnabled('processing.paypal')).toBe(true);
      await first.query(`update feature_flags set enabled = false where key = 'processing.paypal'`);
      const changedAt = Date.now();
      const seen = await Promise.all([a, b].map(async (reader) => {
        while (await reader.isEnabled('processing.paypal')) {
          if (Date.now() - changedAt > 2_000) return Infinity;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return Date.now() - changedAt;
      }));
      expect(Math.max(...seen)).toBeLessThan(2_000);
    } finally {
      await database.db.query(
        `update feature_flags set enabled = true where key = 'processing.paypal'`,
      );
      await first.close();
      await second.close();
    }
  });

  it('refuses a rollout outside 0-100, a minimum that is not semver, and null groups', async () => {
    for (
      const [change, code] of [
        [`rollout_percent = 101`, '23514'],
        [`rollout_percent = -1`, '23514'],
        [`min_app_version = 'v2.0'`, '23514'],
        [`min_app_version = '2.0.01'`, '23514'],
        [`groups = array[null]::text[]`, '23514'],
        [`environments = null`, '23502'],
      ] as const
    ) {
      await expect(
        database.db.query(`update feature_flags set ${change} where key = 'intake.whatsapp'`),
      ).rejects.toMatchObject({ code });
    }
    await database.db.query(
      `update feature_flags set min_app_version = '2.0.0-rc.1+build.5' where key = 'intake.whatsapp'`,
    );
    await database.db.query(
      `update feature_flags set min_app_version = null where key = 'intake.whatsapp'`,
    );
  });

  it('keeps the version row from signed-in users and anon', async () => {
    for (const role of ['authenticated', 'anon']) {
      await expect(database.db.transaction(async (tx) => {
        await tx.query(`select set_config('role', $1, true)`, [role]);
        await tx.query('select version from gatehouse.feature_flags_version');
      })).rejects.toMatchObject({ code: '42501' });
      await expect(database.db.transaction(async (tx) => {
        await tx.query(`select set_config('role', $1, true)`, [role]);
        await tx.query('update gatehouse.feature_flags_version set version = 0');
      })).rejects.toMatchObject({ code: '42501' });
    }
  });
});

describe('flag audit', () => {
  const auditOf = (key: string) =>
    database.db.query<{ actor: string; action: string; before: unknown; after: unknown }>(
      `select actor, action, before, after from audit_logs
        where entity_type = 'feature_flag' and entity_id = $1 order by id`,
      [key],
    );

  it('records every change made in plain SQL, with the role that made it, before and after', async () => {
    await database.db.query(
      `insert into feature_flags (key, description) values ('test.audited', 'audited')`,
    );
    await database.db.query(`update feature_flags set enabled = false where key = 'test.audited'`);
    await database.db.query(`delete from feature_flags where key = 'test.audited'`);
    const [role] = await database.db.query<{ role: string }>('select current_user as role');
    const rows = await auditOf('test.audited');
    expect(rows.map((row) => [row.action, row.actor])).toEqual([
      ['feature_flag.insert', role!.role],
      ['feature_flag.update', role!.role],
      ['feature_flag.delete', role!.role],
    ]);
    expect(rows[0]!.before).toBeNull();
    expect(rows[1]!.before).toMatchObject({ key: 'test.audited', enabled: true });
    expect(rows[1]!.after).toMatchObject({ key: 'test.audited', enabled: false });
    expect(rows[2]!.after).toBeNull();
  });

  it('names the signed-in caller when the change carries their claims, and the service role otherwise', async () => {
    const admin = '3f1c2a40-0000-4000-8000-00000000a0a0';
    await database.db.query(
      `insert into feature_flags (key, description) values ('test.by_admin', 'changed by an admin')`,
    );
    try {
      await database.db.transaction(async (tx) => {
        await tx.query(
          `select set_config('role', 'service_role', true),
                               set_config('request.jwt.claims', $1, true)`,
          [
            JSON.stringify({ sub: admin, role: 'authenticated' }),
          ],
        );
        await tx.query(`update feature_flags set rollout_percent = 10 where key = 'test.by_admin'`);
      });
      await database.db.transaction(async (tx) => {
        await tx.query(`select set_config('role', 'service_role', true)`);
        await tx.query(`update feature_flags set rollout_percent = 20 where key = 'test.by_admin'`);
      });
      const rows = await auditOf('test.by_admin');
      expect(rows.slice(1).map((row) => row.actor)).toEqual([admin, 'service_role']);
    } finally {
      await database.db.query(`delete from feature_flags where key = 'test.by_admin'`);
    }
  });

  it('cannot be rewritten: the audit rows refuse update and delete', async () => {
    await expect(
      database.db.query(
        `update audit_logs set actor = 'someone else' where entity_type = 'feature_flag'`,
      ),
    ).rejects.toMatchObject({ code: '42501' });
    await expect(
      database.db.query(`delete from audit_logs where entity_type = 'feature_flag'`),
    ).rejects.toMatchObject({ code: '42501' });
  });
});
