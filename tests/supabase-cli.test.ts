/**
 * One migration history with the Supabase CLI (the `supabase` npm package, pinned): its
 * `db push` and Gatehouse's runner on one Postgres database, in either order. Needs a
 * Postgres server (the CLI connects over the network), so it runs with TEST_DATABASE_URL.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BOOTSTRAP_SQL, loadMigrationFiles, runMigrations } from '../cli/migrate.ts';
import { checkMigrationsCurrent } from '../functions/_shared/db/migrations.ts';
import { MIGRATION_MANIFEST } from '../functions/_shared/db/migration-manifest.ts';
import { freshDatabasePerTest } from './support/database.ts';
import { projectRoot } from './support/process.ts';

const SUPABASE = join(projectRoot, 'node_modules', '.bin', 'supabase');
const freshDatabase = freshDatabasePerTest();

/** `supabase db push --db-url` against `url`, from the project (supabase/migrations). */
function dbPush(url: string): Promise<{ code: number | null; output: string }> {
  const target = new URL(url);
  target.searchParams.set('sslmode', 'disable'); // the local service speaks no TLS
  return new Promise((resolve, reject) => {
    const child = spawn(
      SUPABASE,
      ['db', 'push', '--db-url', target.toString(), '--workdir', projectRoot, '--yes'],
      { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('supabase db push and gatehouse migrate on one database', () => {
  it(
    'counts what supabase db push applied: nothing applied twice, the schema current',
    async () => {
      const { db, url } = await freshDatabase();
      // What every Supabase database already has (roles, schema auth).
      await db.exec(BOOTSTRAP_SQL);
      const files = await loadMigrationFiles(join(projectRoot, 'migrations'));
      const pushed = await dbPush(url);
      expect(pushed.output).toContain('Finished supabase db push.');
      expect(pushed.code).toBe(0);
      for (const file of files) expect(pushed.output).toContain(`Applying migration ${file.name}`);

      const report = await runMigrations(db, files);
      expect(report).toMatchObject({ applied: [], adopted: files.map((file) => file.name) });
      expect(await checkMigrationsCurrent(db, MIGRATION_MANIFEST)).toMatchObject({
        current: true,
        pending: [],
        changed: [],
      });
      // The pushed schema works as the runner's would.
      const [stored] = await db.query<{ outcome: string }>(
        `select outcome from ingest_events('stripe', $1::jsonb, '{}')`,
        [[{
          slot: 0,
          key: 'evt_pushed',
          type: 'charge.succeeded',
          kind: 'stripe.event',
          payload: {},
        }]],
      );
      expect(stored).toEqual({ outcome: 'accepted' });
    },
    120_000,
  );

  it('leaves supabase db push nothing to apply after the runner', async () => {
    const { db, url } = await freshDatabase();
    const files = await loadMigrationFiles(join(projectRoot, 'migrations'));
    expect((await runMigrations(db, files)).applied).toHaveLength(files.length);
    const pushed = await dbPush(url);
    expect(pushed.output).toContain('Remote database is up to date.');
    expect(pushed.output).not.toContain('Applying migration');
    expect(pushed.code).toBe(0);
  }, 120_000);
});
