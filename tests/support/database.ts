/**
 * A fresh database per caller, on the engine the test run targets:
 * - `TEST_DATABASE_URL` set → a new database created on that Postgres server, dropped after;
 * - unset → a new in-memory PGlite served over the wire protocol (the embedded default).
 *
 * Each test file creates its own, so files run in parallel without sharing rows.
 */
import postgres from 'postgres';
import { readFile } from 'node:fs/promises';
import { afterEach, inject } from 'vitest';
import { startEmbeddedDatabase } from '../../cli/embedded-db.ts';
import { createPostgresDb } from '../../functions/_shared/db/postgres.ts';
import type { Db } from '../../functions/_shared/db/types.ts';

export type DatabaseKind = 'postgres' | 'pglite';

export interface TestDatabase {
  readonly kind: DatabaseKind;
  /** Connection string for a second, independent client. */
  readonly url: string;
  /** A pool on the database (size 1 on PGlite). */
  readonly db: Db;
  /** Opens another pool on the same database (e.g. a second worker). Closed by `drop`. */
  connect(options?: { max?: number }): Db;
  /** Makes the database unreachable: drops it (Postgres) or stops the server (PGlite). */
  drop(): Promise<void>;
}

/**
 * What another process pointed at a test database's URL needs on `kind`: on the embedded
 * engine, one connection per pool and no named statements (its connections share one
 * session, where one connection's statement names would meet another's); nothing on
 * Postgres.
 */
export function clientEnv(kind: DatabaseKind): Record<string, string> {
  return kind === 'pglite' ? { GATEHOUSE_DB_POOL_SIZE: '1', GATEHOUSE_DB_PREPARE: 'false' } : {};
}

export function testDatabaseKind(): DatabaseKind {
  return process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite';
}

let counter = 0;

function uniqueName(): string {
  counter += 1;
  const random = crypto.randomUUID().replaceAll('-', '').slice(0, 10);
  return `gh_test_${process.pid}_${counter}_${random}`;
}

/** Creates an empty database (no migrations applied). */
export function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) return createPgliteDatabase();
  return createPostgresDatabase(adminUrl);
}

/** The run's image of an empty database (global-setup.ts), read once per process. */
let image: Promise<Blob | undefined> | undefined;
const readImage = async () => {
  const file = inject('pgliteImage');
  return file ? new Blob([await readFile(file)]) : undefined;
};

async function createPgliteDatabase(): Promise<TestDatabase> {
  const embedded = await startEmbeddedDatabase({ image: await (image ??= readImage()) });
  const extra: Db[] = [];
  return {
    kind: 'pglite',
    url: embedded.url,
    db: embedded.db,
    connect(options) {
      const db = createPostgresDb({ url: embedded.url, max: options?.max ?? 1 });
      extra.push(db);
      return db;
    },
    async drop() {
      await Promise.all(extra.map((db) => db.close(1)));
      await embedded.stop();
    },
  };
}

async function createPostgresDatabase(adminUrl: string): Promise<TestDatabase> {
  const name = uniqueName();
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = createPostgresDb({ url: url.toString(), max: 5 });
  const extra: Db[] = [];
  let dropped = false;
  return {
    kind: 'postgres',
    url: url.toString(),
    db,
    connect(options) {
      const other = createPostgresDb({ url: url.toString(), max: options?.max ?? 5 });
      extra.push(other);
      return other;
    },
    async drop() {
      if (dropped) return;
      dropped = true;
      await Promise.all([db, ...extra].map((pool) => pool.close(1)));
      const cleanup = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await cleanup.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await cleanup.end();
      }
    },
  };
}

/**
 * For files whose tests each want their own empty database: returns a factory, and drops
 * every database it made after each test.
 */
export function freshDatabasePerTest(): () => Promise<TestDatabase> {
  const made: TestDatabase[] = [];
  afterEach(async () => {
    await Promise.all(made.splice(0).map((database) => database.drop()));
  });
  return async () => {
    const database = await createTestDatabase();
    made.push(database);
    return database;
  };
}
