import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { BOOTSTRAP_SQL } from '../../cli/bootstrap.ts';
import { loadMigrationFiles, runMigrations } from '../../cli/migrate.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

/**
 * What a Supabase project grants before any migration runs: everything on new tables,
 * sequences and functions in `public` to its three API roles. Tests start from the same
 * place, so a migration that forgets to revoke is caught here rather than in production.
 */
const SUPABASE_DEFAULT_PRIVILEGES = `
  ${BOOTSTRAP_SQL}
  alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
  alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
  alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
`;

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
