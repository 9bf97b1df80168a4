/**
 * The embedded database's stand-in for autovacuum (`cli/embedded-vacuum.ts`): PGlite runs
 * no autovacuum, so without it a table whose rows are deleted keeps growing. Runs on both
 * engines; the test tables switch Postgres's own autovacuum off, so on either one only the
 * pass cleans them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedVacuumPass, startEmbeddedVacuum } from '../cli/embedded-vacuum.ts';
import type { Db } from '../functions/_shared/db/types.ts';
import { createLogger } from '../functions/_shared/log/index.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';

let database: TestDatabase;
let db: Db;

beforeAll(async () => {
  database = await createTestDatabase();
  // One session: the statistics its statements leave are flushed before the pass reads them.
  db = database.connect({ max: 1 });
});
afterAll(async () => {
  await database.drop();
});

/** A queue-like table put through `rows` rows: inserted, updated twice, deleted. */
async function churn(table: string, rows: number): Promise<void> {
  await db.query(
    `insert into ${table} (status, payload)
     select 'pending', jsonb_build_object('n', g, 'text', repeat('x', 200))
       from generate_series(1, $1::int) g`,
    [rows],
  );
  await db.query(`update ${table} set status = 'running'`);
  await db.query(`update ${table} set status = 'completed'`);
  await db.query(`delete from ${table}`);
  await db.query('select pg_stat_force_next_flush()');
}

async function createQueueTable(table: string): Promise<void> {
  await db.query(
    `create table ${table} (id bigserial primary key, status text not null, payload jsonb)
       with (autovacuum_enabled = false)`,
  );
  await db.query(`create index on ${table} (id) where status = 'pending'`);
}

async function tableBytes(table: string): Promise<number> {
  const [row] = await db.query<{ bytes: string }>(
    'select pg_total_relation_size($1::regclass) as bytes',
    [table],
  );
  return Number(row!.bytes);
}

describe('embedded vacuum', () => {
  it('vacuums a table with dead rows, and then leaves it alone until more are due', async () => {
    await createQueueTable('vacuum_due');
    await churn('vacuum_due', 2_000);
    const [before] = await db.query<{ dead: string }>(
      "select n_dead_tup as dead from pg_stat_user_tables where relname = 'vacuum_due'",
    );
    expect(Number(before!.dead)).toBeGreaterThan(1_000);

    const report = await embeddedVacuumPass(db);
    expect(report.vacuumed).toContain('public.vacuum_due');
    expect(report.yielded).toBe(false);
    await db.query('select pg_stat_force_next_flush()');
    const [after] = await db.query<{ dead: string; vacuumed: Date | null; analyzed: Date | null }>(
      `select n_dead_tup as dead, last_vacuum as vacuumed, last_analyze as analyzed
         from pg_stat_user_tables where relname = 'vacuum_due'`,
    );
    expect(Number(after!.dead)).toBe(0);
    expect(after!.vacuumed).not.toBeNull();
    expect(after!.analyzed).not.toBeNull();

    const again = await embeddedVacuumPass(db);
    expect(again.vacuumed).not.toContain('public.vacuum_due');
    expect(again.analyzed).not.toContain('public.vacuum_due');
  });

  it('keeps a table whose rows come and go from growing with every round', async () => {
    await createQueueTable('vacuum_rounds');
    // Two rounds settle what the table and its indexes keep between rounds.
    for (let round = 0; round < 2; round += 1) {
      await churn('vacuum_rounds', 5_000);
      await embeddedVacuumPass(db);
    }
    const settled = await tableBytes('vacuum_rounds');
    for (let round = 0; round < 4; round += 1) {
      await churn('vacuum_rounds', 5_000);
      await embeddedVacuumPass(db);
    }
    const grown = (await tableBytes('vacuum_rounds')) - settled;

    // Without the passes, the same rounds grow the table each time.
    await createQueueTable('vacuum_none');
    for (let round = 0; round < 2; round += 1) await churn('vacuum_none', 5_000);
    const unvacuumed = await tableBytes('vacuum_none');
    for (let round = 0; round < 4; round += 1) await churn('vacuum_none', 5_000);
    const unvacuumedNow = await tableBytes('vacuum_none');
    expect(unvacuumedNow).toBeGreaterThan(unvacuumed * 2.5);
    // With them, later rounds reuse the space the earlier ones left: a small fraction of
    // that growth at most (index pages are recycled a round or two late, later still while
    // other sessions run).
    expect(grown).toBeLessThan((unvacuumedNow - unvacuumed) / 4);
  });

  it('stops while requests come first and does nothing then', async () => {
    await createQueueTable('vacuum_yield');
    await churn('vacuum_yield', 2_000);
    const report = await embeddedVacuumPass(db, { shouldYield: () => true });
    expect(report).toEqual({ vacuumed: [], analyzed: [], yielded: true });
    const [row] = await db.query<{ dead: string }>(
      "select n_dead_tup as dead from pg_stat_user_tables where relname = 'vacuum_yield'",
    );
    expect(Number(row!.dead)).toBeGreaterThan(1_000);
  });

  it('runs its passes on a timer until stopped, logging what it did', async () => {
    await createQueueTable('vacuum_timer');
    await churn('vacuum_timer', 2_000);
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', sink: (line) => lines.push(line) });
    const vacuum = startEmbeddedVacuum({ db, logger, everyMs: 20 });
    try {
      await expect.poll(() => lines.some((line) => line.includes('public.vacuum_timer')), {
        timeout: 10_000,
      }).toBe(true);
    } finally {
      await vacuum.stop();
    }
    const line = JSON.parse(lines.find((entry) => entry.includes('public.vacuum_timer'))!);
    expect(line).toMatchObject({ msg: 'embedded vacuum', yielded: false });
    expect(line.vacuumed).toContain('public.vacuum_timer');
  });
});
