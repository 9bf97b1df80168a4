import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { loadMigrationFiles, runMigrations } from '../../cli/migrate.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { SUPABASE_DEFAULT_PRIVILEGES } from './supabase-defaults.ts';

/**
 * A fresh database, set up like a new Supabase project, with every migration applied.
 * `before` runs first, e.g. an app's own objects that the migrations must leave alone.
 */
export async function createMigratedDatabase(
  options: { before?: string } = {},
): Promise<TestDatabase> {
  const database = await createTestDatabase();
  try {
    await database.db.exec(SUPABASE_DEFAULT_PRIVILEGES);
    if (options.before) await database.db.exec(options.before);
    await runMigrations(
      database.db,
      await loadMigrationFiles(join(import.meta.dirname, '../../migrations')),
    );
  } catch (error) {
    await database.drop();
    throw error;
  }
  return database;
}

/**
 * The test file's migrated database: created before its first test, dropped after its last.
 * `setup` runs once after the migrations (the file's own tables); `reset` runs before every
 * test (emptying what tests fill). Read it only inside hooks and tests.
 *
 * @example
 * const database = useMigratedDatabase({ reset: 'delete from jobs;' });
 * it('stores', async () => { await database.db.query('select 1'); });
 */
export function useMigratedDatabase(
  options: { setup?: string; reset?: string } = {},
): TestDatabase {
  let current: TestDatabase | undefined;
  const get = (): TestDatabase => {
    if (current === undefined) throw new Error('the test database exists only inside tests');
    return current;
  };
  beforeAll(async () => {
    current = await createMigratedDatabase();
    if (options.setup) await current.db.exec(options.setup);
  });
  afterAll(async () => {
    await current?.drop();
  });
  if (options.reset) {
    const reset = options.reset;
    beforeEach(async () => {
      await get().db.exec(reset);
    });
  }
  return {
    get kind() {
      return get().kind;
    },
    get url() {
      return get().url;
    },
    get db() {
      return get().db;
    },
    connect: (connectOptions) => get().connect(connectOptions),
    drop: () => get().drop(),
  };
}
