import type { Transaction } from '../../functions/_shared/db/types.ts';
import { migrationVersion } from '../../functions/_shared/db/migrations.ts';
import type { MigrationFile } from './files.ts';

/**
 * One migration history with the Supabase CLI. `supabase db push` records each version it
 * applies in `supabase_migrations.schema_migrations` (version, name, statements) and skips
 * the versions found there; the runner records in `gatehouse.schema_migrations` (name,
 * checksum). So that either may run first on one database:
 *
 * - the runner counts a version the CLI recorded as applied, adopting it into its own table
 *   with the checksum of the file on disk (`source` = `supabase`): the CLI keeps no
 *   checksum, so from then on an edit of that file is caught as for any other;
 * - the runner records each file it applies in the CLI's table too (the whole file as its
 *   one statement), so a later `supabase db push` finds nothing to apply.
 */
export const SUPABASE_HISTORY_SQL = `
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version text primary key,
  statements text[],
  name text
);
revoke all on table supabase_migrations.schema_migrations from public;
do $grants$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'anon') then
    revoke all on table supabase_migrations.schema_migrations from anon, authenticated;
  end if;
end
$grants$;
`;

/** The CLI's name for a file: what follows the version and its underscore, less `.sql`. */
function supabaseName(file: MigrationFile): string {
  return file.name.slice(migrationVersion(file.name).length + 1).replace(/\.sql$/, '');
}

/**
 * Adopts the files whose version `supabase db push` applied and the runner has not
 * recorded; returns their names. Runs under the runner's lock, in its set-up transaction.
 */
export async function adoptSupabaseHistory(
  tx: Transaction,
  files: readonly MigrationFile[],
  applied: ReadonlyMap<string, string>,
): Promise<string[]> {
  const rows = await tx.query<{ version: string }>(
    'select version from supabase_migrations.schema_migrations',
  );
  const pushed = new Set(rows.map((row) => row.version));
  const adopted = files.filter((file) =>
    !applied.has(file.name) && pushed.has(migrationVersion(file.name))
  );
  for (const file of adopted) {
    await tx.query(
      `insert into gatehouse.schema_migrations (name, checksum, source) values ($1, $2, 'supabase')
       on conflict (name) do nothing`,
      [file.name, file.checksum],
    );
  }
  return adopted.map((file) => file.name);
}

/** Records `file`, just applied by the runner, where `supabase db push` looks. */
export async function recordForSupabase(tx: Transaction, file: MigrationFile): Promise<void> {
  await tx.query(
    `insert into supabase_migrations.schema_migrations (version, name, statements)
     values ($1, $2, array[$3]) on conflict (version) do nothing`,
    [migrationVersion(file.name), supabaseName(file), file.sql],
  );
}
