import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrationFiles, runMigrations } from '../../cli/migrate.ts';
import { parseConfig } from '../_shared/config/index.ts';
import { createPostgresDb } from '../_shared/db/postgres.ts';
import type { MigrationManifestEntry } from '../_shared/db/migrations.ts';
import type { HealthCheck } from '../_shared/health/index.ts';
import { createTestDatabase, type TestDatabase } from '../../tests/support/database.ts';
import { startBlackHole } from '../../tests/support/black-hole.ts';
import { capturedLogger } from '../../tests/support/logs.ts';
import { freePort } from '../../tests/support/process.ts';
import { createHealthApp, type HealthDeps } from './index.ts';

const config = parseConfig({});
const fixtures = join(import.meta.dirname, '../../tests/fixtures/health-migrations');

let database: TestDatabase;
let manifest: MigrationManifestEntry[];

beforeAll(async () => {
  database = await createTestDatabase();
  const files = await loadMigrationFiles(fixtures);
  await runMigrations(database.db, files);
  manifest = files.map(({ name, checksum }) => ({ name, checksum }));
});

afterAll(async () => {
  await database.drop();
});

/** A pool to a loopback port nothing listens on: connections are refused. */
async function unreachableDb() {
  return createPostgresDb({ url: `postgres://u@127.0.0.1:${await freePort()}/db`, max: 1 });
}

function app(overrides: Partial<HealthDeps> = {}) {
  return createHealthApp({
    config,
    db: database.db,
    logger: capturedLogger().logger,
    manifest,
    ...overrides,
  });
}

describe('GET /health/live', () => {
  it('answers 200 without touching the database', async () => {
    const res = await app({ db: await unreachableDb() }).request('/health/live');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });
});

describe('GET /health/ready', () => {
  it('is 200 when the database is reachable and every migration is applied', async () => {
    const res = await app().request('/health/ready');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready' });
  });

  it('is 503 naming the pending migrations when the schema is behind the code', async () => {
    const ahead = [...manifest, { name: '20990101000000_future.sql', checksum: 'f'.repeat(64) }];
    const res = await app({ manifest: ahead }).request('/health/ready');
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body.status).toBe('not_ready');
    expect(body.failing).toEqual(['migrations']);
    expect(body.checks.migrations.pending).toEqual(['20990101000000_future.sql']);
  });

  it('is 503 when the database is gone', async () => {
    const doomed = await createTestDatabase();
    const files = await loadMigrationFiles(fixtures);
    await runMigrations(doomed.db, files);
    const subject = app({ db: doomed.db });
    expect((await subject.request('/health/ready')).status).toBe(200);

    await doomed.drop();
    const res = await subject.request('/health/ready');
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body.failing).toContain('database');
    expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|does not exist|stack/i);
  });

  it('answers 503 within its bound when the database hangs instead of refusing', async () => {
    const hole = await startBlackHole();
    const hung = createPostgresDb({ url: `postgres://u@127.0.0.1:${hole.port}/db`, max: 1 });
    try {
      const started = performance.now();
      const res = await app({ db: hung, checkTimeoutMs: 300 }).request('/health/ready');
      expect(res.status).toBe(503);
      // Bounded by the check timeout, not by the driver's 5 s connect timeout.
      expect(performance.now() - started).toBeLessThan(3_000);
    } finally {
      await hole.close();
      await hung.close(0);
    }
  });
});

describe('GET /health', () => {
  it('reports every check with details', async () => {
    const res = await app().request('/health');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.status).toBe('ok');
    expect(body.checks.database.status).toBe('ok');
    expect(typeof body.checks.database.latency_ms).toBe('number');
    expect(body.checks.migrations).toEqual({ status: 'ok', expected: 1 });
    expect(Date.parse(body.time)).not.toBeNaN();
  });

  it('is degraded, still 200, when a non-critical check fails', async () => {
    const flaky: HealthCheck = {
      name: 'queue',
      critical: false,
      run: () => Promise.reject(new Error('queue table missing')),
    };
    const res = await app({ checks: [flaky] }).request('/health');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.status).toBe('degraded');
    expect(body.checks.queue).toEqual({ status: 'down', error: 'check failed' });
  });

  it('is down with 503 when the database refuses connections', async () => {
    const res = await app({ db: await unreachableDb() }).request('/health');
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body.status).toBe('down');
    expect(body.checks.database.status).toBe('down');
  });
});

describe('GET /health/ready under load and locks', () => {
  /** Holds the pool's only connection in a transaction until the returned release is called. */
  async function holdOnlyConnection(pool: ReturnType<TestDatabase['connect']>) {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let inside!: () => void;
    const entered = new Promise<void>((resolve) => (inside = resolve));
    const open = pool.transaction(async () => {
      inside();
      await held;
    });
    await entered;
    return async () => {
      release();
      await open;
    };
  }

  it('stays ready but degraded while the pool is saturated, within the 2 s bound', async () => {
    const pool = database.connect({ max: 1 });
    const subject = app({ db: pool });
    expect((await subject.request('/health/ready')).status).toBe(200);
    const release = await holdOnlyConnection(pool);
    try {
      await new Promise((resolve) => setTimeout(resolve, 600)); // older than DATABASE_SLOW_MS
      const started = performance.now();
      const res = await subject.request('/health/ready');
      expect(performance.now() - started).toBeLessThan(2_500);
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body.status).toBe('degraded');
      expect(body.checks.database).toMatchObject({
        status: 'degraded',
        reason: 'pool_saturated',
        pool: { max: 1, active: 1 },
      });
    } finally {
      await release();
    }
  });

  it('is degraded for a while after statements missed their deadline', async () => {
    const pool = database.connect({ max: 1 });
    const release = await holdOnlyConnection(pool);
    await expect(pool.query('select 1', [], { timeoutMs: 100 })).rejects.toThrow();
    await release();
    const res = await app({ db: pool }).request('/health/ready');
    expect(res.status).toBe(200);
    expect((await res.json()).checks.database).toMatchObject({
      status: 'degraded',
      reason: 'statements_timing_out',
      pool: { timeouts: 1 },
    });
  });

  it('tells an unreachable server (down, 503) by its reason', async () => {
    const res = await app({ db: await unreachableDb() }).request('/health/ready');
    expect(res.status).toBe(503);
    expect((await res.json()).checks.database).toMatchObject({
      status: 'down',
      reason: 'unreachable',
    });
  });

  if (process.env.TEST_DATABASE_URL) {
    it('is degraded while sessions wait on a lock held on inbound-style tables (Postgres)', async () => {
      await database.db.exec('create table if not exists locked_table (id int)');
      const holder = database.connect({ max: 1 });
      const waiter = database.connect({ max: 1 });
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const holding = holder.transaction(async (tx) => {
        await tx.query('lock table locked_table in access exclusive mode');
        locked();
        await held;
      });
      await isLocked;
      const blocked = waiter.query('select count(*) from locked_table', [], { timeoutMs: 0 });
      try {
        await new Promise((resolve) => setTimeout(resolve, 1_300)); // over BLOCKED_AFTER_SECONDS
        const res = await app().request('/health/ready');
        expect(res.status).toBe(200);
        expect((await res.json()).checks.database).toMatchObject({
          status: 'degraded',
          reason: 'blocked_on_locks',
          blocked_sessions: 1,
        });
      } finally {
        release();
        await holding;
        await blocked;
      }
    });
  }
});
