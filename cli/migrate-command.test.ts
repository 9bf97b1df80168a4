/**
 * `gatehouse migrate` as a user runs it, on a scratch project folder and a fresh database
 * (DATABASE_URL on the Postgres service, or the embedded PGlite in a scratch data folder).
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../tests/support/database.ts';
import { MANIFEST_PATH, migrationTimestamp, runMigrateCommand } from './migrate-command.ts';

let root: string;
let database: TestDatabase | undefined;
let env: Record<string, string>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'gatehouse-migrate-'));
  await mkdir(join(root, 'migrations'));
  await mkdir(join(root, 'functions/_shared/db'), { recursive: true });
  env = { GATEHOUSE_DATA_DIR: join(root, '.data'), GATEHOUSE_EMBEDDED_DB_PORT: '0' };
  if (process.env.TEST_DATABASE_URL) {
    database = await createTestDatabase();
    env.DATABASE_URL = database.url;
  }
});

afterAll(async () => {
  await database?.drop();
  await rm(root, { recursive: true, force: true });
});

async function migrate(...args: string[]): Promise<{ code: number; output: string }> {
  const lines: string[] = [];
  const code = await runMigrateCommand(args, {
    env,
    projectRoot: root,
    print: (line) => lines.push(line),
    now: () => new Date('2026-11-22T10:20:30Z'),
  });
  return { code, output: lines.join('\n') };
}

describe('gatehouse migrate', () => {
  it('names files with a UTC timestamp', () => {
    expect(migrationTimestamp(new Date('2026-01-02T03:04:05.678Z'))).toBe('20260102030405');
  });

  it('creates a migration from a template and updates the manifest', async () => {
    const result = await migrate('new', 'create_widgets');
    expect(result).toEqual({
      code: 0,
      output: 'created migrations/20261122102030_create_widgets.sql (manifest updated)',
    });
    const file = join(root, 'migrations/20261122102030_create_widgets.sql');
    await writeFile(file, `${await readFile(file, 'utf8')}create table widgets (id int);\n`);
    expect(await readdir(join(root, 'migrations'))).toEqual(['20261122102030_create_widgets.sql']);
  });

  it('rejects a bad migration name', async () => {
    expect((await migrate('new', 'Bad-Name')).code).toBe(2);
  });

  it('reports a stale manifest with --check, and regenerates it', async () => {
    // The file was edited after `new` wrote the manifest, so its checksum changed.
    expect(await migrate('manifest', '--check')).toEqual({
      code: 1,
      output: `${MANIFEST_PATH} is out of date: run \`npm run migrations:manifest\``,
    });
    expect((await migrate('manifest')).output).toBe(`${MANIFEST_PATH}: 1 migrations (updated)`);
    expect((await migrate('manifest', '--check')).code).toBe(0);
  });

  it('shows pending migrations in status and exits 1', async () => {
    const result = await migrate('status');
    expect(result.code).toBe(1);
    expect(result.output).toContain('pending   20261122102030_create_widgets.sql');
    expect(result.output).toContain('1 pending, 0 edited');
  });

  it('applies them, then has nothing to apply', async () => {
    const first = await migrate();
    expect(first.code).toBe(0);
    expect(first.output).toContain('applied 1 migration(s); 0 were already applied');
    const again = await migrate();
    expect(again.output).toContain('nothing to apply: 1 migrations already applied');
    const status = await migrate('status');
    expect(status.code).toBe(0);
    expect(status.output).toContain('applied   20261122102030_create_widgets.sql');
  });

  it('refuses to run when an applied migration was edited', async () => {
    const file = join(root, 'migrations/20261122102030_create_widgets.sql');
    await writeFile(file, `${await readFile(file, 'utf8')}-- edited\n`);
    const result = await migrate();
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/migrate failed: .*20261122102030_create_widgets\.sql/);
  });
});
