/**
 * The web-standard half of the migration system: checksums and the "are migrations current?"
 * check that `/health/ready` runs. The runner that applies files lives in `cli/migrate/`
 * (it needs a filesystem); this module needs only `crypto.subtle` and a {@link Queryable}.
 */
import type { Queryable } from './types.ts';

/** One migration file as the deploy knows it: its file name and the checksum of its text. */
export interface MigrationManifestEntry {
  /** File name, e.g. `20250101120000_create_jobs.sql`. */
  readonly name: string;
  /** {@link checksumMigration} of the file's text. */
  readonly checksum: string;
}

export interface MigrationStatus {
  /** True when nothing is pending and no applied file differs from the deploy's copy. */
  readonly current: boolean;
  /** Manifest names the database has not applied, in name order. */
  readonly pending: string[];
  /** Manifest names applied with a different checksum (a landed file was edited). */
  readonly changed: string[];
}

/** Length of the `YYYYMMDDHHMMSS` prefix, the version `supabase db push` records. */
const VERSION_LENGTH = 14;

/**
 * Sha256 hex of a migration's text with CRLF normalised to LF, so a checkout on Windows
 * (git `autocrlf`) does not look like an edited migration.
 *
 * @example
 * await checksumMigration('create table t (id int);\n'); // '5f0c…' (64 hex characters)
 */
export async function checksumMigration(text: string): Promise<string> {
  const bytes = new TextEncoder().encode(text.replaceAll('\r\n', '\n'));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** The `YYYYMMDDHHMMSS` version of a migration file name. */
export function migrationVersion(name: string): string {
  return name.slice(0, VERSION_LENGTH);
}

/**
 * Compares the deploy's manifest with what the database has applied. Two cheap queries:
 * one looks up which record table exists, one reads it.
 *
 * - `gatehouse.schema_migrations` (our runner) is compared by name and checksum.
 * - Without it, `supabase_migrations.schema_migrations` (written by `supabase db push`) is
 *   compared by version, the 14-digit prefix; it has no checksums, so `changed` is empty.
 * - With neither, everything is pending.
 *
 * Applied names that the manifest does not list (a newer deploy's migrations) do not make
 * the database stale and are ignored.
 *
 * @example
 * const status = await checkMigrationsCurrent(db, MIGRATION_MANIFEST);
 * if (!status.current) return c.json({ pending: status.pending }, 503);
 */
export async function checkMigrationsCurrent(
  db: Queryable,
  manifest: readonly MigrationManifestEntry[],
): Promise<MigrationStatus> {
  const [tables] = await db.query<{ ours: boolean; supabase: boolean }>(
    `select to_regclass('gatehouse.schema_migrations') is not null as ours,
            to_regclass('supabase_migrations.schema_migrations') is not null as supabase`,
  );
  const sorted = [...manifest].sort((a, b) => compareNames(a.name, b.name));

  if (tables?.ours) {
    const rows = await db.query<{ name: string; checksum: string }>(
      'select name, checksum from gatehouse.schema_migrations',
    );
    const applied = new Map(rows.map((row) => [row.name, row.checksum]));
    const pending: string[] = [];
    const changed: string[] = [];
    for (const entry of sorted) {
      const checksum = applied.get(entry.name);
      if (checksum === undefined) pending.push(entry.name);
      else if (checksum !== entry.checksum) changed.push(entry.name);
    }
    return status(pending, changed);
  }

  if (tables?.supabase) {
    const rows = await db.query<{ version: string }>(
      'select version from supabase_migrations.schema_migrations',
    );
    const versions = new Set(rows.map((row) => row.version));
    const pending = sorted
      .filter((entry) => !versions.has(migrationVersion(entry.name)))
      .map((entry) => entry.name);
    return status(pending, []);
  }

  return status(sorted.map((entry) => entry.name), []);
}

function status(pending: string[], changed: string[]): MigrationStatus {
  return { current: pending.length === 0 && changed.length === 0, pending, changed };
}

/** Code-unit order, the same on every runtime and locale (names are ASCII). */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
