import { describe, expect, it } from 'vitest';
import type { Db } from '../functions/_shared/db/types.ts';
import { freshDatabasePerTest } from '../tests/support/database.ts';
import {
  checksumMigration,
  loadMigrationFiles,
  MigrationError,
  type MigrationFile,
  runMigrations,
} from './migrate.ts';

const FIXTURES = new URL('../tests/fixtures/migrations/', import.meta.url);
const fixtureDir = (name: string) => new URL(`${name}/`, FIXTURES).pathname;

const freshDatabase = freshDatabasePerTest();

async function appliedRows(db: Db) {
  return await db.query<{ name: string; checksum: string; duration_ms: number | null }>(
    'select name, checksum, duration_ms from gatehouse.schema_migrations order by applied_at, name',
  );
}

async function effects(db: Db): Promise<string[]> {
  const rows = await db.query<{ migration: string }>(
    'select migration from fixture_effects order by id',
  );
  return rows.map((row) => row.migration);
}

async function withSql(file: MigrationFile, sql: string): Promise<MigrationFile> {
  return { name: file.name, sql, checksum: await checksumMigration(sql) };
}

const ORDERED = [
  '20240101000000_create_effects.sql',
  '20240102000000_create_accounts.sql',
  '20240103000000_create_sessions.sql',
  '20240104000000_seed_accounts.sql',
  '20240105000000_add_account_status.sql',
];

describe('runMigrations', () => {
  it('applies files in name order, once each, recording name and checksum', async () => {
    const { db } = await freshDatabase();
    const files = await loadMigrationFiles(fixtureDir('ordered'));
    const lines: string[] = [];

    // Handed over out of order: the runner sorts by name, and later files depend on earlier.
    const report = await runMigrations(db, [...files].reverse(), { log: (l) => lines.push(l) });

    expect(report).toEqual({
      applied: ORDERED,
      alreadyApplied: 0,
      unknownApplied: [],
      adopted: [],
    });
    expect(await effects(db)).toEqual([
      'create_effects',
      'create_accounts',
      'create_sessions',
      'seed_accounts',
      'add_account_status',
    ]);
    const rows = await appliedRows(db);
    expect(rows.map((row) => row.name)).toEqual(ORDERED);
    expect(rows.map((row) => row.checksum)).toEqual(files.map((file) => file.checksum));
    expect(rows.every((row) => typeof row.duration_ms === 'number')).toBe(true);
    expect(lines.filter((line) => line.startsWith('applied '))).toHaveLength(5);
  });

  it('is idempotent: a second run applies nothing and does not fail', async () => {
    const { db } = await freshDatabase();
    const files = await loadMigrationFiles(fixtureDir('ordered'));
    await runMigrations(db, files);

    const again = await runMigrations(db, files);

    expect(again).toEqual({ applied: [], alreadyApplied: 5, unknownApplied: [], adopted: [] });
    expect(await effects(db)).toHaveLength(5);
  });

  it('applies only the new files when migrations are added', async () => {
    const { db } = await freshDatabase();
    const files = await loadMigrationFiles(fixtureDir('ordered'));
    await runMigrations(db, files.slice(0, 2));

    const report = await runMigrations(db, files);

    expect(report.applied).toEqual(ORDERED.slice(2));
    expect(report.alreadyApplied).toBe(2);
    expect(await effects(db)).toHaveLength(5);
  });

  it('refuses to run when an applied file was edited, naming it, and applies nothing', async () => {
    const { db } = await freshDatabase();
    const files = await loadMigrationFiles(fixtureDir('ordered'));
    await runMigrations(db, files.slice(0, 3));
    const edited = [
      files[0]!,
      await withSql(files[1]!, files[1]!.sql.replace('email text', 'email varchar(200)')),
      ...files.slice(2),
    ];

    const error = await runMigrations(db, edited).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MigrationError);
    expect((error as MigrationError).message).toContain(
      'migration 20240102000000_create_accounts.sql was edited after it was applied',
    );
    expect((error as MigrationError).message).toContain('append-only');
    expect((error as MigrationError).files).toEqual(['20240102000000_create_accounts.sql']);
    expect((await appliedRows(db)).map((row) => row.name)).toEqual(ORDERED.slice(0, 3));
    expect(await effects(db)).toHaveLength(3);
  });

  it('treats CRLF line endings as the same file', async () => {
    const { db } = await freshDatabase();
    const files = await loadMigrationFiles(fixtureDir('ordered'));
    await runMigrations(db, files);
    const crlf = await Promise.all(
      files.map((file) => withSql(file, file.sql.replaceAll('\n', '\r\n'))),
    );

    expect(await runMigrations(db, crlf)).toMatchObject({ applied: [], alreadyApplied: 5 });
  });

  it('rolls a failing file back entirely and names it, keeping the Postgres error', async () => {
    const { db } = await freshDatabase();
    const files = await loadMigrationFiles(fixtureDir('failing'));

    const error = await runMigrations(db, files).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MigrationError);
    const failure = error as MigrationError;
    expect(failure.files).toEqual(['20240102000000_broken_gadgets.sql']);
    expect(failure.message).toContain('migration 20240102000000_broken_gadgets.sql failed');
    expect(failure.message).toContain('relation "fixture_missing" does not exist');
    expect(failure.code).toBe('42P01');
    expect(failure.message).toContain('(SQLSTATE 42P01) at line 3, column 13');
    const broken = files[1]!.sql;
    expect(broken.slice(failure.position! - 1)).toMatch(/^fixture_missing/);

    // The first file stays applied; nothing of the broken one (its table, its insert into
    // the first file's table, its record) survives; the third never ran.
    expect((await appliedRows(db)).map((row) => row.name)).toEqual([
      '20240101000000_create_widgets.sql',
    ]);
    const [tables] = await db.query<{ gadgets: string | null; never: string | null }>(
      `select to_regclass('fixture_gadgets')::text as gadgets,
              to_regclass('fixture_never')::text as never`,
    );
    expect(tables).toEqual({ gadgets: null, never: null });
    expect(await db.query('select id from fixture_widgets')).toEqual([]);
  });

  it('refuses a file with its own transaction control before running anything', async () => {
    const { db } = await freshDatabase();
    const [first] = await loadMigrationFiles(fixtureDir('ordered'));
    const sneaky = await withSql(
      { name: '20240102000000_own_transaction.sql', sql: '', checksum: '' },
      'begin;\ncreate table fixture_sneaky (id int);\ncommit;\n',
    );

    const error = await runMigrations(db, [first!, sneaky]).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MigrationError);
    expect((error as MigrationError).message).toContain(
      'migration 20240102000000_own_transaction.sql contains "begin" at line 1, column 1',
    );
    const [state] = await db.query<{ records: string | null }>(
      `select to_regclass('gatehouse.schema_migrations')::text as records`,
    );
    expect(state?.records).toBeNull();
  });

  it('reports applied migrations that are not on disk without failing', async () => {
    const { db } = await freshDatabase();
    const files = await loadMigrationFiles(fixtureDir('ordered'));
    await runMigrations(db, files);
    const lines: string[] = [];

    const report = await runMigrations(db, files.slice(0, 3), { log: (l) => lines.push(l) });

    expect(report).toEqual({
      applied: [],
      alreadyApplied: 3,
      unknownApplied: ORDERED.slice(3),
      adopted: [],
    });
    expect(lines.some((line) => line.startsWith('warning:') && line.includes(ORDERED[4]!)))
      .toBe(true);
  });

  it('hides its record table from the API roles', async () => {
    const { db } = await freshDatabase();
    await runMigrations(db, []);

    const [privileges] = await db.query<{ anon: boolean; authenticated: boolean }>(
      `select has_table_privilege('anon', 'gatehouse.schema_migrations', 'select') as anon,
              has_table_privilege('authenticated', 'gatehouse.schema_migrations', 'select')
                as authenticated`,
    );
    expect(privileges).toEqual({ anon: false, authenticated: false });
  });

  it('records each file it applies where supabase db push looks for applied versions', async () => {
    const { db } = await freshDatabase();
    const files = await loadMigrationFiles(fixtureDir('ordered'));
    await runMigrations(db, files);
    const rows = await db.query<{ version: string; name: string; statements: string[] }>(
      'select version, name, statements from supabase_migrations.schema_migrations order by version',
    );
    expect(rows.map((row) => [row.version, row.name])).toEqual(
      ORDERED.map((name) => [name.slice(0, 14), name.slice(15, -4)]),
    );
    expect(rows[0]!.statements).toEqual([files.find((f) => f.name === ORDERED[0])!.sql]);
  });

  it('counts the versions supabase db push applied as applied, and checks them from then on', async () => {
    const { db } = await freshDatabase();
    const files = await loadMigrationFiles(fixtureDir('ordered'));
    const pushed = files.filter((file) => ORDERED.slice(0, 2).includes(file.name));
    // What `supabase db push` leaves: its table, and the first two files applied.
    await db.exec(`create schema supabase_migrations;
      create table supabase_migrations.schema_migrations
        (version text primary key, statements text[], name text);`);
    for (const file of pushed) {
      await db.exec(file.sql);
      await db.query(
        'insert into supabase_migrations.schema_migrations (version, name) values ($1, $2)',
        [file.name.slice(0, 14), file.name.slice(15, -4)],
      );
    }
    const lines: string[] = [];
    const report = await runMigrations(db, files, { log: (line) => lines.push(line) });
    expect(report).toMatchObject({ applied: ORDERED.slice(2), adopted: ORDERED.slice(0, 2) });
    expect(lines.slice(0, 2)).toEqual(
      ORDERED.slice(0, 2).map((name) => `counted ${name} as applied: supabase db push applied it`),
    );
    expect(await effects(db)).toEqual(ORDERED.map((name) => name.slice(15, -4)));
    const sources = await db.query<{ name: string; source: string }>(
      'select name, source from gatehouse.schema_migrations order by name',
    );
    expect(sources.map((row) => row.source)).toEqual([
      'supabase',
      'supabase',
      'gatehouse',
      'gatehouse',
      'gatehouse',
    ]);
    // Adopted with the checksum of the file on disk: an edit afterwards is refused.
    const edited = files.map((file) =>
      file.name === ORDERED[0] ? { ...file, checksum: 'x' } : file
    );
    await expect(runMigrations(db, edited)).rejects.toThrow(/was edited after it was applied/);
  });

  it('applies each file exactly once when two runners start together', async () => {
    const pools = await concurrentPools();
    const files = await loadMigrationFiles(fixtureDir('ordered'));

    const [first, second] = await Promise.all([
      runMigrations(pools.a, files),
      runMigrations(pools.b, files),
    ]);

    // Between them every file was applied once; each runner accounts for all five.
    expect([...first.applied, ...second.applied].sort()).toEqual(ORDERED);
    expect(first.applied.length + first.alreadyApplied).toBe(5);
    expect(second.applied.length + second.alreadyApplied).toBe(5);
    expect(await effects(pools.a)).toEqual([
      'create_effects',
      'create_accounts',
      'create_sessions',
      'seed_accounts',
      'add_account_status',
    ]);
    expect((await appliedRows(pools.a)).map((row) => row.name)).toEqual(ORDERED);
  });
});

/**
 * Two independent pools on one fresh database, as two runners starting together would
 * have (on PGlite the embedded server accepts several connections and runs their
 * statements one at a time).
 */
async function concurrentPools(): Promise<{ a: Db; b: Db }> {
  const database = await freshDatabase();
  return { a: database.connect({ max: 2 }), b: database.connect({ max: 2 }) };
}
