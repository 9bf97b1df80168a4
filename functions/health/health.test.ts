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
