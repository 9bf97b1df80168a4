/**
 * Autovacuum for the embedded database. PGlite runs Postgres in single-user mode, which has
 * no autovacuum: the versions of rows updated or deleted stay where they are, so tables and
 * indexes grow with every job and every delivery even after the retention purge deletes
 * them, the job queue's claims walk further through dead entries, and the planner's
 * statistics never refresh. (A queue table put through 20,000 jobs at a time, each inserted,
 * claimed, completed and deleted, grew by 4.7 MB of table and 2.9 MB of index per round
 * without it, and stayed at 24 kB of table with a VACUUM after each round.)
 *
 * The local server, on the embedded engine, reads the tables' statistics every
 * {@link EMBEDDED_VACUUM_EVERY_MS} and does what autovacuum would with its default
 * thresholds, one table at a time. A VACUUM holds PGlite's one session, so a pass stops
 * while requests come first (the admission door is pressed) and resumes at the next tick.
 */
import type { Db } from '../functions/_shared/db/types.ts';
import type { Logger } from '../functions/_shared/log/index.ts';
import { type Periodic, runPeriodically } from './periodic.ts';

export const EMBEDDED_VACUUM_EVERY_MS = 60_000;

/**
 * Tables due, as autovacuum judges them with its default settings: a VACUUM when dead row
 * versions pass 50 + 20 % of the table (`autovacuum_vacuum_threshold`, `_scale_factor`) or
 * rows inserted since the last one pass 1,000 + 20 % (`autovacuum_vacuum_insert_*`), an
 * ANALYZE when rows changed since the last one pass 50 + 10 % (`autovacuum_analyze_*`).
 * Names come quoted by Postgres (`%I`): the statements below are built from them alone.
 */
const DUE_TABLES = `
  select t.name, t.vacuum, t.analyze
    from (select format('%I.%I', s.schemaname, s.relname) as name, s.n_dead_tup, s.relid,
                 (s.n_dead_tup > 50 + 0.2 * greatest(c.reltuples, 0)
                   or s.n_ins_since_vacuum > 1000 + 0.2 * greatest(c.reltuples, 0)) as vacuum,
                 s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0) as analyze
            from pg_catalog.pg_stat_user_tables s
            join pg_catalog.pg_class c on c.oid = s.relid) t
   where t.vacuum or t.analyze
   order by t.n_dead_tup desc, t.relid`;

export interface VacuumPassReport {
  /** Tables vacuumed, as quoted names. */
  readonly vacuumed: string[];
  /** Tables analysed. */
  readonly analyzed: string[];
  /** True when the pass stopped early for the requests. */
  readonly yielded: boolean;
}

/**
 * One pass: every table due gets its VACUUM and/or ANALYZE, the ones with most dead rows
 * first, until `shouldYield` says requests come first (asked before each statement).
 *
 * @example
 * ```ts
 * const report = await embeddedVacuumPass(adminDb, { shouldYield: () => admission.pressed() });
 * ```
 */
export async function embeddedVacuumPass(
  db: Db,
  options: { readonly shouldYield?: () => boolean } = {},
): Promise<VacuumPassReport> {
  const report = { vacuumed: [] as string[], analyzed: [] as string[], yielded: false };
  if (options.shouldYield?.()) return { ...report, yielded: true };
  const due = await db.query<{ name: string; vacuum: boolean; analyze: boolean }>(DUE_TABLES);
  // Each statement on its own, so the session is never held for more than one of them
  // (an ANALYZE of 30,000 jobs took PGlite about 150 ms) before requests are looked at.
  for (const table of due) {
    if (table.vacuum) {
      if (options.shouldYield?.()) return { ...report, yielded: true };
      await db.query(`vacuum ${table.name}`);
      report.vacuumed.push(table.name);
    }
    if (table.analyze) {
      if (options.shouldYield?.()) return { ...report, yielded: true };
      await db.query(`analyze ${table.name}`);
      report.analyzed.push(table.name);
    }
  }
  return report;
}

/**
 * Runs {@link embeddedVacuumPass} every `everyMs` (a tick is skipped while the last pass
 * runs; `stop` ends a pass at its next statement); a failed pass is logged and the next
 * tick tries again.
 */
export function startEmbeddedVacuum(options: {
  readonly db: Db;
  readonly logger: Logger;
  readonly shouldYield?: () => boolean;
  readonly everyMs?: number;
}): Periodic {
  return runPeriodically(
    async (signal) => {
      const started = performance.now();
      const report = await embeddedVacuumPass(options.db, {
        shouldYield: () => signal.aborted || (options.shouldYield?.() ?? false),
      });
      if (report.vacuumed.length + report.analyzed.length === 0) return;
      options.logger.debug('embedded vacuum', {
        ...report,
        duration_ms: Math.round(performance.now() - started),
      });
    },
    options.everyMs ?? EMBEDDED_VACUUM_EVERY_MS,
    (error) => options.logger.warn('embedded vacuum failed', { error }),
  );
}
