import { describe, expect, it } from 'vitest';
import { loadMigrationFiles, runMigrations } from '../../../cli/migrate.ts';
import { freshDatabasePerTest } from '../../../tests/support/database.ts';
import {
  checkMigrationsCurrent,
  checksumMigration,
  type MigrationManifestEntry,
} from './migrations.ts';

const ORDERED_DIR = new URL('../../../tests/fixtures/migrations/ordered/', import.meta.url)
  .pathname;

const freshDatabase = freshDatabasePerTest();

async function orderedFixtures() {
  const files = await loadMigrationFiles(ORDERED_DIR);
  const manifest: MigrationManifestEntry[] = files.map(({ name, checksum }) => ({
    name,
    checksum,
  }));
  return { files, manifest, names: manifest.map((entry) => entry.name) };
}

describe('checksumMigration', () => {
  it('is the sha256 hex of the text', async () => {
    // Known SHA-256 test vectors (FIPS 180-2).
    expect(await checksumMigration('')).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(await checksumMigration('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('ignores CRLF versus LF, but not other changes', async () => {
    const lf = await checksumMigration('create table t (id int);\nselect 1;\n');
    expect(await checksumMigration('create table t (id int);\r\nselect 1;\r\n')).toBe(lf);
    expect(await checksumMigration('create table t (id bigint);\nselect 1;\n')).not.toBe(lf);
  });
});

describe('checkMigrationsCurrent', () => {
  it('reports everything pending on a database that was never migrated', async () => {
    const { db } = await freshDatabase();
    const { manifest, names } = await orderedFixtures();

    expect(await checkMigrationsCurrent(db, manifest)).toEqual({
      current: false,
      pending: names,
      changed: [],
    });
  });

  it('reports the files not yet applied', async () => {
    const { db } = await freshDatabase();
    const { files, manifest, names } = await orderedFixtures();
    await runMigrations(db, files.slice(0, 2));

    expect(await checkMigrationsCurrent(db, manifest)).toEqual({
      current: false,
      pending: names.slice(2),
      changed: [],
    });
  });

  it('is current once every file is applied, even with newer applied migrations', async () => {
    const { db } = await freshDatabase();
    const { files, manifest } = await orderedFixtures();
    await runMigrations(db, files);

    expect(await checkMigrationsCurrent(db, manifest)).toEqual({
      current: true,
      pending: [],
      changed: [],
    });
    // An older deploy (fewer files) against this database is still current.
    expect(await checkMigrationsCurrent(db, manifest.slice(0, 3))).toMatchObject({
      current: true,
    });
  });

  it('reports files whose applied checksum differs', async () => {
    const { db } = await freshDatabase();
    const { files, manifest, names } = await orderedFixtures();
    await runMigrations(db, files);
    const edited = manifest.map((entry, index) =>
      index === 1 ? { ...entry, checksum: 'f'.repeat(64) } : entry
    );

    expect(await checkMigrationsCurrent(db, edited)).toEqual({
      current: false,
      pending: [],
      changed: [names[1]],
    });
  });

  it('falls back to supabase_migrations by version when the runner never ran', async () => {
    const { db } = await freshDatabase();
    const { manifest, names } = await orderedFixtures();
    // The shape `supabase db push` creates, with the first three versions applied.
    await db.exec(`
      create schema supabase_migrations;
      create table supabase_migrations.schema_migrations (
        version text primary key,
        statements text[],
        name text
      );
      insert into supabase_migrations.schema_migrations (version, name) values
        ('20240101000000', 'create_effects'),
        ('20240102000000', 'create_accounts'),
        ('20240103000000', 'create_sessions');
    `);

    expect(await checkMigrationsCurrent(db, manifest)).toEqual({
      current: false,
      pending: names.slice(3),
      changed: [],
    });

    await db.exec(`
      insert into supabase_migrations.schema_migrations (version, name) values
        ('20240104000000', 'seed_accounts'), ('20240105000000', 'add_account_status');
    `);
    expect(await checkMigrationsCurrent(db, manifest)).toEqual({
      current: true,
      pending: [],
      changed: [],
    });
  });

  it('is current with an empty manifest on an empty database', async () => {
    const { db } = await freshDatabase();

    expect(await checkMigrationsCurrent(db, [])).toEqual({
      current: true,
      pending: [],
      changed: [],
    });
  });
});
