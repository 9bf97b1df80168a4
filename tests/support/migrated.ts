import { join } from 'node:path';
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
