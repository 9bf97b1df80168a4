/**
 * A claim keeps walking indexes as the jobs table grows: the plans a connection keeps for
 * `claim_jobs` and the functions it calls were made while the table was small, and a plan
 * that read the whole table then (a lease by ids) would read all of it at every claim
 * later, until the next ANALYZE. Counted with the transaction's own scan statistics, so
 * nothing here depends on timing.
 */
import { describe, expect, it } from 'vitest';
import type { Queryable } from '../functions/_shared/db/types.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const database = useMigratedDatabase({ reset: 'delete from jobs;' });

/** Whole-table reads of `jobs` in the current transaction so far. */
async function jobsSeqScans(tx: Queryable): Promise<number> {
  const [row] = await tx.query<{ n: number }>(
    `select coalesce(seq_scan, 0)::int as n from pg_stat_xact_user_tables
      where relid = 'public.jobs'::regclass`,
  );
  return row?.n ?? 0;
}

describe('claim_jobs on a grown table', () => {
  it('reads jobs through indexes when its plans were made on an empty table', async () => {
    const seen = await database.db.transaction(async (tx) => {
      // One connection throughout: the first claims make and keep its plans, empty table.
      for (let i = 0; i < 3; i += 1) {
        await tx.query(`select * from claim_jobs('plans-worker', 10, 60, null, true)`);
      }
      // Then the table grows as a busy day's does: finished jobs, and some to do.
      await tx.query(
        `insert into jobs (queue, kind, status, completed_at)
         select 'q', 'k', 'completed', now() from generate_series(1, 20000)`,
      );
      await tx.query(
        `insert into jobs (queue, kind) select 'q', 'k' from generate_series(1, 30)`,
      );
      const before = await jobsSeqScans(tx);
      const claimed: number[] = [];
      for (let i = 0; i < 3; i += 1) {
        const rows = await tx.query(`select * from claim_jobs('plans-worker', 10, 60, null, true)`);
        claimed.push(rows.length);
      }
      return { claimed, seqScans: (await jobsSeqScans(tx)) - before };
    });
    expect(seen).toEqual({ claimed: [10, 10, 10], seqScans: 0 });
  });

  it('lets no function it calls inherit its generic-plan setting', async () => {
    // claim_jobs runs with plan_cache_mode = force_generic_plan, and a function's settings
    // hold for the functions it calls: each of them must say how it plans for itself.
    const [claim] = await database.db.query<{ body: string }>(
      `select prosrc as body from pg_proc where oid = 'public.claim_jobs'::regproc`,
    );
    const called = [...new Set([...claim!.body.matchAll(/public\.(\w+)\(/g)].map((m) => m[1]!))]
      .filter((name) => name !== 'jobs');
    const unsettled = await database.db.query<{ name: string }>(
      `select p.proname as name from pg_proc p
        where p.pronamespace = 'public'::regnamespace and p.proname = any($1::text[])
          and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c
                           where c like 'plan_cache_mode=%')
        order by 1`,
      [called],
    );
    expect(called.length).toBeGreaterThanOrEqual(3);
    expect(unsettled).toEqual([]);
  });
});
