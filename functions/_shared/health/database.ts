import type { Clock } from '../clock.ts';
import { checkMigrationsCurrent, type MigrationManifestEntry } from '../db/migrations.ts';
import type { Queryable } from '../db/types.ts';
import type { HealthCheck } from './index.ts';

/** Round-trip time above which the database is reported `degraded`. */
export const DATABASE_SLOW_MS = 500;

/** `select 1` round trip: down when unreachable, degraded when slow. */
export function databaseCheck(db: Queryable, clock: Clock): HealthCheck {
  return {
    name: 'database',
    critical: true,
    async run() {
      const started = clock.now();
      await db.query('select 1');
      const latency = clock.now() - started;
      return { status: latency > DATABASE_SLOW_MS ? 'degraded' : 'ok', latency_ms: latency };
    },
  };
}

/**
 * Every migration this code was built with is applied. Pending ones mean the schema is
 * older than the code (down: not ready); an applied file whose checksum differs from the
 * build's copy means someone edited a landed migration (degraded: investigate).
 */
export function migrationsCheck(
  db: Queryable,
  manifest: readonly MigrationManifestEntry[],
): HealthCheck {
  return {
    name: 'migrations',
    critical: true,
    async run() {
      const state = await checkMigrationsCurrent(db, manifest);
      if (state.pending.length > 0) {
        return { status: 'down', expected: manifest.length, pending: state.pending };
      }
      if (state.changed.length > 0) {
        return { status: 'degraded', expected: manifest.length, changed: state.changed };
      }
      return { status: 'ok', expected: manifest.length };
    },
  };
}
