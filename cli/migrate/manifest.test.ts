import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATION_MANIFEST } from '../../functions/_shared/db/migration-manifest.ts';
import { loadMigrationFiles } from './files.ts';
import { renderMigrationManifest, writeMigrationManifest } from './manifest.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const MIGRATIONS_DIR = join(ROOT, 'migrations');
const MANIFEST_PATH = join(ROOT, 'functions/_shared/db/migration-manifest.ts');

const temporary: string[] = [];
afterEach(async () => {
  await Promise.all(temporary.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('migration manifest', () => {
  it('the committed manifest matches migrations/ (run `npm run migrations:manifest`)', async () => {
    const files = await loadMigrationFiles(MIGRATIONS_DIR);

    expect(await readFile(MANIFEST_PATH, 'utf8')).toBe(renderMigrationManifest(files));
    expect(MIGRATION_MANIFEST).toEqual(
      files.map(({ name, checksum }) => ({ name, checksum })),
    );
  });

  it('writes names and checksums, and rewrites only when migrations change', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-manifest-'));
    temporary.push(dir);
    const migrations = join(dir, 'migrations');
    const manifest = join(dir, 'migration-manifest.ts');
    await mkdir(migrations);
    await writeFile(join(migrations, '20240101000000_create_jobs.sql'), 'create table jobs ();\n');

    expect(await writeMigrationManifest(migrations, manifest)).toEqual({
      path: manifest,
      entries: 1,
      changed: true,
    });
    const [file] = await loadMigrationFiles(migrations);
    const text = await readFile(manifest, 'utf8');
    expect(text).toContain(`name: '20240101000000_create_jobs.sql',`);
    expect(text).toContain(`checksum: '${file!.checksum}',`);
    expect(text).toContain('npm run migrations:manifest');

    expect(await writeMigrationManifest(migrations, manifest)).toMatchObject({ changed: false });

    await writeFile(join(migrations, '20240102000000_add_index.sql'), 'select 1;\n');
    expect(await writeMigrationManifest(migrations, manifest)).toMatchObject({
      entries: 2,
      changed: true,
    });
  });
});
