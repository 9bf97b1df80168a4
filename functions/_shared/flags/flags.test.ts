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
