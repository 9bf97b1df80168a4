import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  checksumMigration,
  compareNames,
  migrationVersion,
} from '../../functions/_shared/db/migrations.ts';
import { MigrationError } from './errors.ts';

/** A migration to apply: its file name, its SQL and the checksum of that SQL. */
export interface MigrationFile {
  /** File name, e.g. `20250101120000_create_jobs.sql`; also the key it is recorded under. */
  readonly name: string;
  readonly sql: string;
  /** `checksumMigration(sql)`. */
  readonly checksum: string;
}

/** `YYYYMMDDHHMMSS_name.sql`, the name lowercase letters, digits and underscores. */
const MIGRATION_NAME = /^\d{14}_[a-z0-9_]+\.sql$/;

/** Throws unless `name` is a well-formed migration file name. */
export function assertMigrationName(name: string): void {
  if (!MIGRATION_NAME.test(name)) {
    throw new MigrationError(
      `migration file name ${JSON.stringify(name)} is not YYYYMMDDHHMMSS_name.sql ` +
        '(14-digit timestamp, underscore, lowercase letters, digits and underscores)',
      { files: [name] },
    );
  }
}

/**
 * Checks names and sorts by name. Two files may not share a version (the 14-digit prefix):
 * `supabase db push` records versions, so it would apply only one of them.
 */
export function sortMigrationFiles(files: readonly MigrationFile[]): MigrationFile[] {
  const sorted = [...files].sort((a, b) => compareNames(a.name, b.name));
  const byVersion = new Map<string, string>();
  for (const file of sorted) {
    assertMigrationName(file.name);
    const clash = byVersion.get(migrationVersion(file.name));
    if (clash !== undefined) {
      throw new MigrationError(
        `migrations ${clash} and ${file.name} share the version ${
          migrationVersion(file.name)
        }; give the newer one a later timestamp`,
        { files: [clash, file.name] },
      );
    }
    byVersion.set(migrationVersion(file.name), file.name);
  }
  return sorted;
}

/**
 * Reads every `*.sql` file in `dir`, in name order, with its checksum. Other files (such as
 * `.gitkeep`) are ignored; a `.sql` file with a malformed name is an error naming it, never
 * silently skipped, since a skipped migration is a schema that silently differs.
 *
 * @example
 * const files = await loadMigrationFiles('migrations');
 * const report = await runMigrations(db, files, { log: console.log });
 */
export async function loadMigrationFiles(dir: string): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isFile() && entry.name.toLowerCase().endsWith('.sql'))
    .map((entry) => entry.name);
  for (const name of names) assertMigrationName(name);
  const files = await Promise.all(names.map(async (name) => {
    const sql = await readFile(join(dir, name), 'utf8');
    return { name, sql, checksum: await checksumMigration(sql) };
  }));
  return sortMigrationFiles(files);
}
