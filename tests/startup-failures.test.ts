/**
 * Start-up failures a person can fix end `gatehouse start` (what `npm start` runs) with one
 * line saying what to do, no stack trace, and a non-zero exit: a taken port (checked before
 * the database is touched), an unreachable database, a database that does not exist, a
 * data folder that cannot be written, unreadable development secrets, an embedded data
 * folder the database cannot be created in.
 */
import { createServer } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATION_LOCK_KEY } from '../cli/migrate/runner.ts';
import { createTestDatabase } from './support/database.ts';
import { freePort, runGatehouse } from './support/process.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-startup-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `gatehouse start` (killed after the test if it is still running). */
async function start(env: Record<string, string>) {
  const gatehouse = runGatehouse(['start'], {
    GATEHOUSE_DATA_DIR: await dataDir(),
    GATEHOUSE_EMBEDDED_DB_PORT: '0',
    ...env,
  });
  cleanups.push(async () => {
    gatehouse.child.kill('SIGKILL');
    await gatehouse.exited;
  });
  return gatehouse;
}

/** Waits for `gatehouse` to exit on its own: its code, output and `gatehouse:` lines. */
async function exitOf(gatehouse: Awaited<ReturnType<typeof start>>) {
  const code = await gatehouse.exited;
  const output = gatehouse.output();
  return { code, output, errorLines: output.split('\n').filter((line) => /gatehouse:/.test(line)) };
}

/** Runs `gatehouse start` and waits for it to exit on its own. */
async function startAndExit(env: Record<string, string>) {
  return await exitOf(await start(env));
}

function expectOneFriendlyLine(result: Awaited<ReturnType<typeof exitOf>>, text: RegExp) {
  expect(result.code, result.output).toBe(1);
  expect(result.errorLines).toHaveLength(1);
  expect(result.errorLines[0]).toMatch(text);
  expect(result.output).not.toMatch(/\n\s+at /); // no stack trace
}

async function occupiedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  cleanups.push(() => new Promise((done) => server.close(() => done())));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('gatehouse start refuses to start, saying why', () => {
  it('names a heap limit that is not a number of megabytes', async () => {
    const result = await startAndExit({ GATEHOUSE_HEAP_MB: '12' });
    expectOneFriendlyLine(
      result,
      /GATEHOUSE_HEAP_MB must be 0 or a whole number of at least 64, got 12/,
    );
  });

  it('names a port in use, before it touches the database', async () => {
    const port = await occupiedPort();
    // The database is unreachable too: the port is what it must report, since it is
    // checked first.
    const result = await startAndExit({
      PORT: String(port),
      DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/nowhere`,
    });
    expectOneFriendlyLine(
      result,
      new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use.*set PORT`),
    );
  });

  it('names an unreachable database and what to check', async () => {
    const dbPort = await freePort();
    const result = await startAndExit({
      PORT: String(await freePort()),
      DATABASE_URL: `postgres://postgres:secret-pw@127.0.0.1:${dbPort}/nowhere`,
    });
    expectOneFriendlyLine(
      result,
      new RegExp(
        `cannot reach the database at postgres://postgres@127\\.0\\.0\\.1:${dbPort}/nowhere: ` +
          'connection refused.*DATABASE_URL',
      ),
    );
    expect(result.output).not.toContain('secret-pw');
  });

  it('names an embedded data folder it cannot create the database in', async () => {
    const folder = await dataDir();
    await writeFile(join(folder, 'pglite'), 'a file where the database folder should be');
    const result = await startAndExit({
      PORT: String(await freePort()),
      GATEHOUSE_DATA_DIR: folder,
    });
    expectOneFriendlyLine(
      result,
      /cannot create the embedded database in .*pglite: .*Check that GATEHOUSE_DATA_DIR is a folder you can write to, or set DATABASE_URL/,
    );
  });

  it('names a data folder it cannot write to', async () => {
    const parent = await dataDir();
    const notAFolder = join(parent, 'data');
    await writeFile(notAFolder, 'a file where the data folder should be');
    const result = await startAndExit({
      PORT: String(await freePort()),
      GATEHOUSE_DATA_DIR: notAFolder,
    });
    expectOneFriendlyLine(
      result,
      /cannot write to the data folder .*data: (a file has that name|a file stands in its path); set GATEHOUSE_DATA_DIR/,
    );
  });

  it('names development secrets it cannot read and what to do', async () => {
    const folder = await dataDir();
    await writeFile(join(folder, 'dev-secrets.json'), '{ not json');
    const result = await startAndExit({
      PORT: String(await freePort()),
      GATEHOUSE_DATA_DIR: folder,
    });
    expectOneFriendlyLine(
      result,
      /dev-secrets\.json is not valid JSON; delete it to generate new development secrets/,
    );
  });

  if (process.env.TEST_DATABASE_URL) {
    it('names a database that does not exist and how to create it (Postgres)', async () => {
      const url = new URL(process.env.TEST_DATABASE_URL!);
      const name = `gh_missing_${crypto.randomUUID().slice(0, 8)}`;
      url.pathname = `/${name}`;
      const result = await startAndExit({
        PORT: String(await freePort()),
        DATABASE_URL: url.toString(),
      });
      expectOneFriendlyLine(
        result,
        new RegExp(`database "${name}" does not exist .*createdb ${name}`),
      );
    });

    it('names a database connection lost while migrating (Postgres)', async () => {
      const database = await createTestDatabase();
      cleanups.push(() => database.drop());
      // Holding the migrations' lock keeps the runner waiting in the database, so its
      // connection can be ended at a known step.
      const holder = database.connect({ max: 1 });
      let release: () => void = () => {};
      const released = new Promise<void>((resolve) => (release = resolve));
      const holding = holder.transaction(async (tx) => {
        await tx.query(`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
        await released;
      });
      cleanups.push(async () => {
        release();
        await holding.catch(() => {});
      });
      const gatehouse = await start({
        PORT: String(await freePort()),
        DATABASE_URL: database.url,
      });
      let waiting: { pid: number }[] = [];
      for (let tries = 0; waiting.length === 0; tries += 1) {
        expect(tries, gatehouse.output()).toBeLessThan(300);
        await new Promise((next) => setTimeout(next, 100));
        waiting = await database.db.query<{ pid: number }>(
          `select pid from pg_stat_activity
            where datname = current_database() and wait_event = 'advisory'`,
        );
      }
      await database.db.query('select pg_terminate_backend($1)', [waiting[0]!.pid]);

      expectOneFriendlyLine(
        await exitOf(gatehouse),
        /lost the database at postgres:\/\/.* while applying migrations .*: check that it is up and start again/,
      );
    });
  }
});
