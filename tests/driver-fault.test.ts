/**
 * A backend terminated while a transaction's statement runs, under Deno. postgres.js 3.x
 * then wrote the transaction's ROLLBACK to a socket its close handler had already nulled:
 * an uncaught TypeError from a setImmediate, which ended a Deno process and left the
 * connection unable to start again (porsager/postgres#1154, #1208); Gatehouse's crash guard
 * survived it and replaced the pools. postgres.js 4 fails the transaction cleanly: nothing
 * uncaught, and every later statement is served. The crash guard stays, as the net.
 *
 * Needs two sessions (one terminates the other): real Postgres only, so vitest.config.ts
 * leaves this file out of the embedded run.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { projectRoot } from './support/process.ts';
import { createPostgresDb } from '../functions/_shared/db/postgres.ts';
import { DatabaseUnavailableError } from '../functions/_shared/db/types.ts';

if (process.env.TEST_DATABASE_URL) {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  describe('a backend terminated mid-transaction under Deno', () => {
    it('fails that transaction alone, throws nothing uncaught, and every later statement is served', () => {
      const deno = join(projectRoot, 'node_modules/.bin/deno');
      const run = spawnSync(
        deno,
        [
          'run',
          '--allow-all',
          '--quiet',
          '--config',
          join(projectRoot, 'deno.json'),
          join(projectRoot, 'tests/fixtures/driver-fault.ts'),
          database.url,
          '3',
        ],
        { encoding: 'utf8', timeout: 60_000 },
      );
      expect(run.status, run.stderr).toBe(0);
      const seen = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
      // Each round's transaction fails as a database outage would (a 503 upstream).
      expect(seen.rejections).toEqual([
        'DatabaseUnavailableError',
        'DatabaseUnavailableError',
        'DatabaseUnavailableError',
      ]);
      expect(seen.faults).toEqual({ driverFaults: 0, uncaughtErrors: 0, unhandledRejections: 0 });
      for (const step of seen.after) {
        expect(step.ok, `${step.error} (logged: ${seen.logged.join(' | ')})`).toBe(true);
        expect(step.ms).toBeLessThan(1_000);
      }
    });
  });

  describe('a batch whose connection is killed', () => {
    it('answers DatabaseUnavailableError, and the pool serves the next batch and query', async () => {
      const db = createPostgresDb({ url: database.url, max: 1 });
      const killer = createPostgresDb({ url: database.url, max: 1 });
      try {
        const [rows] = await db.batch([{ text: 'select pg_backend_pid() as pid' }]);
        const first = rows![0] as { pid: number };
        const killed = db.batch([{ text: 'select pg_sleep(5)' }]);
        // Terminated once its sleep runs (seen in pg_stat_activity), not before.
        for (let tries = 0; tries < 100; tries += 1) {
          const [row] = await killer.query(
            `select count(*)::int as n from pg_stat_activity
              where pid = $1 and query like 'select pg_sleep%'`,
            [first.pid],
          );
          if (row!.n === 1) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await killer.query('select pg_terminate_backend($1)', [first.pid]);
        await expect(killed).rejects.toThrow(DatabaseUnavailableError);
        expect(await db.batch([{ text: 'select 2 as two' }])).toEqual([[{ two: 2 }]]);
        expect(await db.query('select 3 as three')).toEqual([{ three: 3 }]);
      } finally {
        await db.close();
        await killer.close();
      }
    });
  });
}
