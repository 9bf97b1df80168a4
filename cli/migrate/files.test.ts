import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checksumMigration } from '../../functions/_shared/db/migrations.ts';
import { MigrationError } from './errors.ts';
import { assertMigrationName, loadMigrationFiles } from './files.ts';

const FIXTURES = new URL('../../tests/fixtures/migrations/', import.meta.url).pathname;

const temporary: string[] = [];
afterEach(async () => {
  await Promise.all(temporary.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-migrations-'));
  temporary.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

describe('loadMigrationFiles', () => {
  it('reads the .sql files in name order with their text and checksum', async () => {
    const dir = join(FIXTURES, 'ordered');

    const files = await loadMigrationFiles(dir);

    expect(files.map((file) => file.name)).toEqual([
      '20240101000000_create_effects.sql',
      '20240102000000_create_accounts.sql',
      '20240103000000_create_sessions.sql',
      '20240104000000_seed_accounts.sql',
      '20240105000000_add_account_status.sql',
    ]);
    for (const file of files) {
      const text = await readFile(join(dir, file.name), 'utf8');
      expect(file.sql).toBe(text);
      expect(file.checksum).toBe(await checksumMigration(text));
    }
  });

  it('ignores files that are not .sql, and an empty folder is no migrations', async () => {
    const dir = await tempDir({ '.gitkeep': '', 'README.md': '# notes' });

    expect(await loadMigrationFiles(dir)).toEqual([]);
  });

  it('refuses a .sql file with a malformed name, naming it', async () => {
    const error = await loadMigrationFiles(join(FIXTURES, 'bad-name')).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MigrationError);
    expect((error as MigrationError).message).toContain('"20240102000000_Add-Thing-Names.sql"');
    expect((error as MigrationError).files).toEqual(['20240102000000_Add-Thing-Names.sql']);
  });

  it('refuses two files with the same version, naming both', async () => {
    const dir = await tempDir({
      '20240101000000_create_a.sql': 'create table a (id int);',
      '20240101000000_create_b.sql': 'create table b (id int);',
    });

    await expect(loadMigrationFiles(dir)).rejects.toThrow(
      'migrations 20240101000000_create_a.sql and 20240101000000_create_b.sql share the version',
    );
  });
});

describe('assertMigrationName', () => {
  it.each([
    '20240101000000_create_jobs.sql',
    '20991231235959_v2_add_index_2.sql',
  ])('accepts %s', (name) => {
    expect(() => assertMigrationName(name)).not.toThrow();
  });

  it.each([
    '2024010100000_short_timestamp.sql',
    '20240101000000-dash.sql',
    '20240101000000_.sql',
    '20240101000000_Upper.sql',
    '20240101000000_spaces here.sql',
    '20240101000000_create_jobs.SQL',
    'create_jobs.sql',
  ])('refuses %s', (name) => {
    expect(() => assertMigrationName(name)).toThrow(MigrationError);
  });
});
