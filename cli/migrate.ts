/**
 * The migration runner: loads `migrations/*.sql`, applies what is pending exactly once each,
 * and regenerates the manifest edge functions use to check that migrations are current.
 * Paths are parameters; the `gatehouse migrate` command decides where they point.
 *
 * @example
 * const files = await loadMigrationFiles('migrations');
 * const report = await runMigrations(db, files, { log: (line) => console.log(line) });
 * await writeMigrationManifest('migrations', 'functions/_shared/db/migration-manifest.ts');
 */
export { MigrationError } from './migrate/errors.ts';
export {
  assertMigrationName,
  loadMigrationFiles,
  type MigrationFile,
  sortMigrationFiles,
} from './migrate/files.ts';
export {
  renderMigrationManifest,
  writeMigrationManifest,
  type WriteMigrationManifestResult,
} from './migrate/manifest.ts';
export {
  type MigrationReport,
  runMigrations,
  type RunMigrationsOptions,
} from './migrate/runner.ts';
export { BOOTSTRAP_SQL } from './bootstrap.ts';
export { checksumMigration } from '../functions/_shared/db/migrations.ts';
