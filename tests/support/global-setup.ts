import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { newDatabaseImage } from '../../cli/embedded-db-server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A file holding the image every embedded test database starts from ('' : none). */
    pgliteImage: string;
  }
}

/**
 * Runs once per `vitest` invocation. On the embedded engine it makes the image of a new
 * database that every test database is copied from (initdb once, not once per database).
 * Against a real Postgres it removes databases left behind by an earlier run that was
 * killed before its files could drop their own.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    const folder = await mkdtemp(join(tmpdir(), 'gatehouse-pglite-image-'));
    const file = join(folder, 'image.tar');
    await writeFile(file, new Uint8Array(await (await newDatabaseImage()).arrayBuffer()));
    project.provide('pgliteImage', file);
    return () => rm(folder, { recursive: true, force: true });
  }
  project.provide('pgliteImage', '');
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin`select 1`;
    const stale = await admin<{ datname: string }[]>`
      select datname from pg_database
      where datname like 'gh\_test\_%'
        and not exists (select 1 from pg_stat_activity a where a.datname = pg_database.datname)`;
    for (const { datname } of stale) {
      await admin.unsafe(`drop database if exists "${datname}" with (force)`);
    }
  } catch (error) {
    throw new Error(
      `TEST_DATABASE_URL is set but that Postgres cannot be used: ${(error as Error).message}`,
    );
  } finally {
    await admin.end();
  }
}
