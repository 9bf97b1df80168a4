import type { Clock } from '../clock.ts';
import { checkMigrationsCurrent, type MigrationManifestEntry } from '../db/migrations.ts';
import { DatabaseTimeoutError, DatabaseUnavailableError, type Db } from '../db/types.ts';
import type { HealthCheck, HealthCheckResult } from './index.ts';

/** Round-trip time above which the database is reported `degraded`. */
export const DATABASE_SLOW_MS = 500;
/**
 * How long the probe waits for the server, on its own connection. Below the 2 s bound
 * every check runs under, so a check always answers with what it saw.
 */
export const PROBE_TIMEOUT_MS = 1_500;
/** A statement that missed its deadline this recently keeps the database `degraded`. */
export const RECENT_TIMEOUT_MS = 10_000;
/** A session waiting on a lock longer than this counts as blocked. */
export const BLOCKED_AFTER_SECONDS = 1;

/**
 * Sessions of this database waiting on a lock for over a second, as the probe's one
 * statement: a held lock shows before the requests queued behind it time out.
 */
const PROBE_SQL = `select count(*) filter (
         where wait_event_type = 'Lock' and state = 'active'
           and now() - query_start > make_interval(secs => ${BLOCKED_AFTER_SECONDS})
       )::int as blocked
    from pg_catalog.pg_stat_activity
   where datname = current_database()`;

/**
 * The database as requests see it, on a probe connection of its own so a full pool cannot
 * hide a healthy server (or a healthy pool an unreachable one):
 * - `down`: the server refuses, drops or does not answer the probe (`reason`:
 *   `unreachable` or `not_answering`);
 * - `degraded`: it answers, but requests are slowed, by the first that holds of: sessions
 *   blocked on locks, the pool saturated (every connection busy and the oldest call older
 *   than {@link DATABASE_SLOW_MS}), statements that missed their deadline in the last 10 s,
 *   a slow probe;
 * - `ok` otherwise. Details carry the numbers, never a server message.
 */
export function databaseCheck(db: Db, clock: Clock): HealthCheck {
  return {
    name: 'database',
    critical: true,
    async run(): Promise<HealthCheckResult> {
      const started = clock.now();
      const pool = db.stats();
      const saturated = pool.active >= pool.max && pool.oldestMs > DATABASE_SLOW_MS;
      const poolDetails = {
        max: pool.max,
        active: pool.active,
        oldest_ms: Math.round(pool.oldestMs),
        timeouts: pool.timeouts,
      };
      let blocked: number;
      try {
        const [row] = await db.probe(PROBE_TIMEOUT_MS).query<{ blocked: number }>(PROBE_SQL);
        blocked = row?.blocked ?? 0;
      } catch (error) {
        const after = db.stats();
        if (
          error instanceof DatabaseTimeoutError && after.active >= after.max &&
          after.oldestMs >= PROBE_TIMEOUT_MS
        ) {
          // The embedded database is one session: our own long statement holds it, so the
          // probe could not run either. The server is there; the pool is what is stuck.
          return { status: 'degraded', reason: 'pool_saturated', pool: poolDetails };
        }
        const reason = error instanceof DatabaseTimeoutError
          ? 'not_answering'
          : error instanceof DatabaseUnavailableError
          ? 'unreachable'
          : 'probe_failed';
        return { status: 'down', reason, pool: poolDetails };
      }
      const latency = clock.now() - started;
      const timingOut = pool.lastTimeoutAgoMs !== null && pool.lastTimeoutAgoMs < RECENT_TIMEOUT_MS;
      // The cause first: sessions stuck on a lock also fill the pool and time out.
      const reason = blocked > 0
        ? 'blocked_on_locks'
        : saturated
        ? 'pool_saturated'
        : timingOut
        ? 'statements_timing_out'
        : latency > DATABASE_SLOW_MS
        ? 'slow'
        : null;
      return {
        status: reason === null ? 'ok' : 'degraded',
        ...(reason === null ? {} : { reason }),
        latency_ms: latency,
        blocked_sessions: blocked,
        pool: poolDetails,
      };
    },
  };
}

/** How long a confirmed-current schema is remembered when the database cannot be asked. */
export const MIGRATIONS_REMEMBERED_MS = 5 * 60_000;

/**
 * Every migration this code was built with is applied. Pending ones mean the schema is
 * older than the code (down: not ready); an applied file whose checksum differs from the
 * build's copy means someone edited a landed migration (degraded: investigate). Read on the
 * probe connection, so a saturated pool does not make the instance look unmigrated; when
 * even the probe cannot run (the embedded database is one session, held by a long
 * statement), a schema seen current in the last five minutes still counts as current.
 */
export function migrationsCheck(
  db: Db,
  manifest: readonly MigrationManifestEntry[],
  clock: Clock,
): HealthCheck {
  let currentAt: number | null = null;
  return {
    name: 'migrations',
    critical: true,
    async run() {
      let state;
      try {
        state = await checkMigrationsCurrent(db.probe(PROBE_TIMEOUT_MS), manifest);
      } catch (error) {
        const seen = currentAt;
        if (error instanceof DatabaseTimeoutError && seen !== null) {
          const ageMs = clock.now() - seen;
          if (ageMs < MIGRATIONS_REMEMBERED_MS) {
            return { status: 'ok', expected: manifest.length, checked_ms_ago: ageMs };
          }
        }
        throw error;
      }
      if (state.pending.length > 0) {
        currentAt = null;
        return { status: 'down', expected: manifest.length, pending: state.pending };
      }
      currentAt = clock.now();
      if (state.changed.length > 0) {
        return { status: 'degraded', expected: manifest.length, changed: state.changed };
      }
      return { status: 'ok', expected: manifest.length };
    },
  };
}
