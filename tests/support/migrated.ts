import { join } from 'node:path';
import { loadMigrationFiles, runMigrations } from '../../cli/migrate.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

/** A fresh database with every migration in `migrations/` applied. */
export async function createMigratedDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase();
  try {
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
