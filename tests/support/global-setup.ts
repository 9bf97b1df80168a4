import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { newDatabaseImage } from '../../cli/embedded-db-server.ts';
import { ensureWebBuild } from '../../web/build.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A file holding the image every embedded test database starts from ('' : none). */
    pgliteImage: string;
  }
}

/** Whether a process with this id runs (on this machine). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs once per `vitest` invocation. Builds the web apps when their build is stale. On
 * the embedded engine it makes the image of a new database that every test database is
 * copied from (initdb once, not once per database). Against a real Postgres it removes
 * databases left behind by an earlier run that was killed before its files could drop
 * their own.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  // Once here, so the servers the files start find the web build made and never race to it.
  await ensureWebBuild(() => {});
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
      // Named gh_test_<pid>_...: a database whose process still runs belongs to another run
      // going on beside this one (a second vitest), which may be about to connect to it.
      const pid = Number(/^gh_test_(\d+)_/.exec(datname)?.[1]);
      if (pid && processAlive(pid)) continue;
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
