import type { Db, Transaction } from '../../functions/_shared/db/types.ts';
import { DatabaseUnavailableError } from '../../functions/_shared/db/types.ts';
import { compareNames } from '../../functions/_shared/db/migrations.ts';
import { BOOTSTRAP_SQL } from '../bootstrap.ts';
import { MigrationError } from './errors.ts';
import { type MigrationFile, sortMigrationFiles } from './files.ts';
import { findTransactionControl } from './transaction-control.ts';
import {
  adoptSupabaseHistory,
  recordForSupabase,
  SUPABASE_HISTORY_SQL,
} from './supabase-history.ts';

export interface RunMigrationsOptions {
  /** Receives one line per step (applied file, warnings). Silent when omitted. */
  log?: (line: string) => void;
}

export interface MigrationReport {
  /** Files this run applied, in the order it applied them. */
  applied: string[];
  /** How many of the given files were already applied (by an earlier or concurrent run). */
  alreadyApplied: number;
  /** Applied names with no file on disk: migrations of a newer deploy. Not an error. */
  unknownApplied: string[];
  /** Files `supabase db push` had applied, counted as applied (and now recorded here). */
  adopted: string[];
}

/**
 * Key of the transaction-scoped advisory lock that serialises migration runners on one
 * database (the ASCII bytes of "gthmigr" as a big-endian integer). Not a session lock:
 * Supabase's transaction-mode pooler hands each transaction to any server connection, so a
 * session lock could be held on one connection while the next statement runs on another.
 */
export const MIGRATION_LOCK_KEY = '29119914462242674';
const TAKE_LOCK = `select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;

/** The runner's own record, in its own schema so the REST API never exposes it. */
const CREATE_MIGRATIONS_TABLE = `
do $setup$
begin
  if not exists (select from pg_catalog.pg_namespace where nspname = 'gatehouse') then
    create schema gatehouse;
  end if;
  if to_regclass('gatehouse.schema_migrations') is null then
    create table gatehouse.schema_migrations (
      name text primary key,
      checksum text not null,
      applied_at timestamptz not null default now(),
      duration_ms int
    );
    comment on table gatehouse.schema_migrations is
      'Migrations applied by the gatehouse runner, one row per file, with the checksum it had.';
    revoke all on table gatehouse.schema_migrations from public, anon, authenticated;
  end if;
  -- Who applied it: this runner, or supabase db push (adopted; see supabase-history.ts).
  alter table gatehouse.schema_migrations
    add column if not exists source text not null default 'gatehouse';
end
$setup$;
`;

/**
 * Applies the pending migrations in name order, each exactly once, even with several
 * runners at once (separate pools or processes), and records each with its checksum.
 *
 * 1. One transaction takes the advisory lock, runs the bootstrap (roles, schema `auth`;
 *    a no-op on Supabase), creates `gatehouse.schema_migrations` if missing and reads it.
 * 2. Before applying anything it refuses (MigrationError) if an applied file's checksum
 *    differs from the file given: landed migrations are append-only.
 * 3. Each pending file then runs in its own transaction: take the lock, re-check that no
 *    other runner applied it meanwhile, run it, record it, commit. A failing file rolls
 *    back entirely and nothing is recorded.
 *
 * @example
 * const files = await loadMigrationFiles('migrations');
 * const report = await runMigrations(db, files, { log: (line) => console.log(line) });
 * // { applied: ['20250101120000_create_jobs.sql'], alreadyApplied: 3, unknownApplied: [] }
 */
export async function runMigrations(
  db: Db,
  files: readonly MigrationFile[],
  options: RunMigrationsOptions = {},
): Promise<MigrationReport> {
  const log = options.log ?? (() => {});
  const sorted = sortMigrationFiles(files);
  for (const file of sorted) assertNoTransactionControl(file);

  const { applied, adopted } = await prepare(db, sorted);
  for (const name of adopted) log(`counted ${name} as applied: supabase db push applied it`);

  const onDisk = new Set(sorted.map((file) => file.name));
  const edited = sorted.filter((file) => {
    const checksum = applied.get(file.name);
    return checksum !== undefined && checksum !== file.checksum;
  });
  if (edited.length > 0) throw editedError(edited.map((file) => file.name));

  const unknownApplied = [...applied.keys()].filter((name) => !onDisk.has(name))
    .sort(compareNames);
  if (unknownApplied.length > 0) {
    log(
      `warning: the database has applied migrations this deploy does not have ` +
        `(a newer deploy's?): ${unknownApplied.join(', ')}`,
    );
  }

  const newest = [...applied.keys()].sort(compareNames).at(-1);
  const report: MigrationReport = {
    applied: [],
    alreadyApplied: sorted.filter((file) => applied.has(file.name)).length,
    adopted,
    unknownApplied,
  };
  for (const file of sorted) {
    if (applied.has(file.name)) continue;
    if (newest !== undefined && compareNames(file.name, newest) < 0) {
      log(`note: ${file.name} sorts before the newest applied migration ${newest}`);
    }
    const result = await applyOne(db, file);
    if (result.status === 'applied') {
      report.applied.push(file.name);
      log(`applied ${file.name} (${result.durationMs} ms)`);
    } else {
      report.alreadyApplied += 1;
      log(`skipped ${file.name}: applied meanwhile by another runner`);
    }
  }
  if (report.applied.length === 0) log('migrations are current; nothing to apply');
  return report;
}

type ApplyResult = { status: 'applied'; durationMs: number } | { status: 'already-applied' };

async function applyOne(db: Db, file: MigrationFile): Promise<ApplyResult> {
  try {
    return await db.transaction(async (tx): Promise<ApplyResult> => {
      await tx.query(TAKE_LOCK);
      const [existing] = await tx.query<{ checksum: string }>(
        'select checksum from gatehouse.schema_migrations where name = $1',
        [file.name],
      );
      if (existing) {
        if (existing.checksum !== file.checksum) throw editedError([file.name]);
        return { status: 'already-applied' };
      }
      const started = performance.now();
      await tx.exec(file.sql);
      const durationMs = Math.round(performance.now() - started);
      await tx.query(
        'insert into gatehouse.schema_migrations (name, checksum, duration_ms) values ($1, $2, $3)',
        [file.name, file.checksum, durationMs],
      );
      await recordForSupabase(tx, file);
      return { status: 'applied', durationMs };
    });
  } catch (error) {
    if (error instanceof MigrationError || error instanceof DatabaseUnavailableError) throw error;
    throw failedError(file, error);
  }
}

/**
 * Under the lock: bootstrap, create the record tables if missing (ours and the Supabase
 * CLI's), adopt what `supabase db push` applied, and read ours. Returns applied name →
 * checksum, and the names adopted.
 */
async function prepare(
  db: Db,
  files: readonly MigrationFile[],
): Promise<{ applied: Map<string, string>; adopted: string[] }> {
  try {
    return await db.transaction(async (tx) => {
      await tx.query(TAKE_LOCK);
      await tx.exec(BOOTSTRAP_SQL);
      await tx.exec(CREATE_MIGRATIONS_TABLE);
      await tx.exec(SUPABASE_HISTORY_SQL);
      const adopted = await adoptSupabaseHistory(tx, files, await readApplied(tx));
      return { applied: await readApplied(tx), adopted };
    });
  } catch (error) {
    if (error instanceof DatabaseUnavailableError) throw error;
    const { text, code } = describePostgresError(error);
    throw new MigrationError(
      `migration setup (bootstrap, gatehouse.schema_migrations, supabase_migrations) failed: ${text}`,
      { files: [], code, cause: error },
    );
  }
}

async function readApplied(tx: Transaction): Promise<Map<string, string>> {
  const rows = await tx.query<{ name: string; checksum: string }>(
    'select name, checksum from gatehouse.schema_migrations',
  );
  return new Map(rows.map((row) => [row.name, row.checksum]));
}

function assertNoTransactionControl(file: MigrationFile): void {
  const found = findTransactionControl(file.sql);
  if (!found) return;
  const { line, column } = lineAndColumn(file.sql, found.position);
  throw new MigrationError(
    `migration ${file.name} contains "${found.statement}" at line ${line}, column ${column}: ` +
      'the runner applies each file in its own transaction; remove transaction control ' +
      'from the file',
    { files: [file.name], position: found.position },
  );
}

function editedError(names: string[]): MigrationError {
  const subject = names.length === 1
    ? `migration ${names[0]} was edited after it was applied`
    : `migrations ${names.join(', ')} were edited after they were applied`;
  return new MigrationError(
    `${subject} (checksum differs); landed migrations are append-only — restore the ` +
      'file and add a new migration instead',
    { files: names },
  );
}

interface PostgresErrorFields {
  message?: unknown;
  code?: unknown;
  position?: unknown;
  detail?: unknown;
  hint?: unknown;
  where?: unknown;
}

/**
 * Postgres's message with its SQLSTATE, then detail, hint and context lines when present;
 * with `sql`, the error position is also given as line:column in that script.
 */
function describePostgresError(
  error: unknown,
  sql?: string,
): { text: string; code: string | undefined; position: number | undefined } {
  const fields: PostgresErrorFields = typeof error === 'object' && error !== null ? error : {};
  const message = typeof fields.message === 'string' ? fields.message : String(error);
  const code = typeof fields.code === 'string' ? fields.code : undefined;
  const rawPosition = Number(fields.position);
  const position = Number.isInteger(rawPosition) && rawPosition > 0 ? rawPosition : undefined;
  let text = message;
  if (code !== undefined) text += ` (SQLSTATE ${code})`;
  if (position !== undefined && sql !== undefined) {
    const { line, column } = lineAndColumn(sql, position);
    text += ` at line ${line}, column ${column}`;
  }
  const context = { detail: fields.detail, hint: fields.hint, where: fields.where };
  for (const [label, value] of Object.entries(context)) {
    if (typeof value === 'string' && value !== '') text += `\n${label}: ${value}`;
  }
  return { text, code, position };
}

/** Wraps a failing file's error, keeping Postgres's message, SQLSTATE and position. */
function failedError(file: MigrationFile, error: unknown): MigrationError {
  const { text, code, position } = describePostgresError(error, file.sql);
  return new MigrationError(
    `migration ${file.name} failed: ${text}\n` +
      'the file was rolled back; nothing from it was applied or recorded',
    { files: [file.name], code, position, cause: error },
  );
}

function lineAndColumn(text: string, position: number): { line: number; column: number } {
  const before = text.slice(0, position - 1);
  const lines = before.split('\n');
  return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 };
}
