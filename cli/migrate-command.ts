import { readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { checkMigrationsCurrent } from '../functions/_shared/db/migrations.ts';
import { type Env, parseConfig } from '../functions/_shared/config/index.ts';
import type { GatehouseApp } from '../functions/_shared/app.ts';
import { registerFlags } from '../functions/_shared/flags/index.ts';
import { openDatabase } from './database.ts';
import {
  assertMigrationName,
  loadMigrationFiles,
  MigrationError,
  renderMigrationManifest,
  runMigrations,
  writeMigrationManifest,
} from './migrate.ts';

export const MIGRATIONS_DIR = 'migrations';
export const MANIFEST_PATH = 'functions/_shared/db/migration-manifest.ts';

export interface MigrateCommandOptions {
  readonly env: Env;
  readonly projectRoot: string;
  readonly print?: (line: string) => void;
  readonly now?: () => Date;
  /** The app whose flags `migrate` registers (`functions/_app`'s, from the command). */
  readonly app?: GatehouseApp;
}

/** `YYYYMMDDHHMMSS` in UTC, the migration file prefix. */
export function migrationTimestamp(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/**
 * `gatehouse migrate [status | new <name> | manifest [--check]]`. Returns the exit code.
 */
export async function runMigrateCommand(
  args: readonly string[],
  options: MigrateCommandOptions,
): Promise<number> {
  const print = options.print ?? ((line: string) => console.log(line));
  const dir = join(options.projectRoot, MIGRATIONS_DIR);
  const manifestPath = join(options.projectRoot, MANIFEST_PATH);
  const [sub, ...rest] = args;

  if (sub === 'new') {
    const name = rest[0];
    if (!name || !/^[a-z0-9_]+$/.test(name)) {
      print('usage: gatehouse migrate new <name>   (lower-case letters, digits, underscores)');
      return 2;
    }
    const file = `${migrationTimestamp((options.now ?? (() => new Date()))())}_${name}.sql`;
    assertMigrationName(file);
    await writeFile(join(dir, file), NEW_MIGRATION_TEMPLATE, { flag: 'wx' });
    await writeMigrationManifest(dir, manifestPath);
    print(`created ${MIGRATIONS_DIR}/${file} (manifest updated)`);
    return 0;
  }

  if (sub === 'manifest') {
    if (rest[0] === '--check') {
      const expected = renderMigrationManifest(await loadMigrationFiles(dir));
      const actual = await readFile(manifestPath, 'utf8').catch(() => '');
      if (actual !== expected) {
        print(`${MANIFEST_PATH} is out of date: run \`npm run migrations:manifest\``);
        return 1;
      }
      print(`${MANIFEST_PATH} is current`);
      return 0;
    }
    const result = await writeMigrationManifest(dir, manifestPath);
    print(
      `${relative(options.projectRoot, resolve(result.path))}: ${result.entries} migrations` +
        (result.changed ? ' (updated)' : ' (unchanged)'),
    );
    return 0;
  }

  if (sub !== undefined && sub !== 'status' && sub !== 'up') {
    print(`gatehouse migrate: unknown subcommand "${sub}" (use status, new, manifest)`);
    return 2;
  }

  const config = parseConfig(options.env);
  const localConfig = { ...config, dataDir: resolve(options.projectRoot, config.dataDir) };
  const database = await openDatabase(localConfig, { warn: print, viaRunningServer: true });
  try {
    const files = await loadMigrationFiles(dir);
    print(`database: ${database.description}`);
    if (sub === 'status') {
      const status = await checkMigrationsCurrent(database.adminDb, files);
      for (const file of files) {
        const state = status.pending.includes(file.name)
          ? 'pending'
          : status.changed.includes(file.name)
          ? 'EDITED after it was applied'
          : 'applied';
        print(`  ${state.padEnd(8)}  ${file.name}`);
      }
      print(
        status.current
          ? `${files.length} migrations, all applied`
          : `${status.pending.length} pending, ${status.changed.length} edited`,
      );
      return status.current ? 0 : 1;
    }
    const report = await runMigrations(database.adminDb, files, {
      log: (line) => print(`  ${line}`),
    });
    print(
      report.applied.length === 0
        ? `nothing to apply: ${files.length} migrations already applied`
        : `applied ${report.applied.length} migration(s); ${report.alreadyApplied} were already applied`,
    );
    const declared = Object.keys(options.app?.flags ?? {}).length;
    if (declared > 0) {
      let added: string[];
      try {
        added = await registerFlags(database.adminDb, options.app?.flags);
      } catch (error) {
        if (!(error instanceof TypeError)) throw error;
        print(`migrate failed: ${error.message} (functions/_app)`);
        return 1;
      }
      print(
        added.length > 0
          ? `app flags: added ${added.join(', ')}`
          : `app flags: all ${declared} already in feature_flags`,
      );
    }
    return 0;
  } catch (error) {
    if (error instanceof MigrationError) {
      print(`migrate failed: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    await database.close();
  }
}

const NEW_MIGRATION_TEMPLATE = `-- What this migration does, in one line.
--
-- Landed migrations are append-only: never edit this file once it is on main.
-- Every new table in public: enable row level security here, one policy per action,
-- with a one-line comment saying who may do what.

`;
