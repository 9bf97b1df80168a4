import { describe, expect, it } from 'vitest';
import { configProblems } from '../../../tests/support/config.ts';
import { parseConfig } from './index.ts';

describe('database and admission settings', () => {
  it('defaults: pool 10, a job pool of one per concurrent job plus one, 3 s / 5 s / 2 s', () => {
    const config = parseConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' });
    expect(config.database).toMatchObject({
      poolSize: 10,
      jobPoolSize: 11,
      timeoutMs: 3_000,
      statementTimeoutMs: 5_000,
      lockTimeoutMs: 2_000,
    });
    expect(config.http).toMatchObject({
      maxInFlight: 128,
      targetLatencyMs: 25,
      maxBufferedBytes: 16 * 1024 * 1024,
    });
    expect(parseConfig({ GATEHOUSE_WORKER_CONCURRENCY: '3' }).database.jobPoolSize).toBe(4);
  });

  it('keeps admitted requests within 25 ms on Postgres and 35 ms on the embedded database', () => {
    const postgres = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' };
    expect(parseConfig(postgres).http.targetLatencyMs).toBe(25);
    expect(parseConfig({ SUPABASE_DB_URL: postgres.DATABASE_URL }).http.targetLatencyMs).toBe(25);
    expect(parseConfig({}).http.targetLatencyMs).toBe(35);
    // A target set is the target, on either engine.
    expect(parseConfig({ GATEHOUSE_LATENCY_TARGET_MS: '25' }).http.targetLatencyMs).toBe(25);
    expect(parseConfig({ ...postgres, GATEHOUSE_LATENCY_TARGET_MS: '50' }).http.targetLatencyMs)
      .toBe(50);
  });

  it('reads every variable', () => {
    const config = parseConfig({
      GATEHOUSE_DB_POOL_SIZE: '20',
      GATEHOUSE_DB_JOB_POOL_SIZE: '5',
      GATEHOUSE_DB_TIMEOUT_MS: '1500',
      GATEHOUSE_DB_STATEMENT_TIMEOUT_MS: '0',
      GATEHOUSE_DB_LOCK_TIMEOUT_MS: '500',
      GATEHOUSE_MAX_IN_FLIGHT: '64',
      GATEHOUSE_LATENCY_TARGET_MS: '0',
      GATEHOUSE_MAX_BUFFERED_BYTES: String(8 * 1024 * 1024),
    });
    expect(config.database).toMatchObject({
      poolSize: 20,
      jobPoolSize: 5,
      timeoutMs: 1_500,
      statementTimeoutMs: 0,
      lockTimeoutMs: 500,
    });
    expect(config.http).toMatchObject({
      maxInFlight: 64,
      targetLatencyMs: 0,
      maxBufferedBytes: 8 * 1024 * 1024,
    });
  });

  it('names each bad value', () => {
    const found = configProblems({
      GATEHOUSE_DB_POOL_SIZE: '0',
      GATEHOUSE_DB_TIMEOUT_MS: '50',
      GATEHOUSE_DB_LOCK_TIMEOUT_MS: 'soon',
      GATEHOUSE_MAX_BUFFERED_BYTES: String(1024 * 1024),
      GATEHOUSE_LATENCY_TARGET_MS: '-5',
    }).join('\n');
    expect(found).toMatch(/GATEHOUSE_DB_POOL_SIZE: must be at least 1/);
    expect(found).toMatch(/GATEHOUSE_DB_TIMEOUT_MS: must be at least 100/);
    expect(found).toMatch(/GATEHOUSE_DB_LOCK_TIMEOUT_MS: must be a whole number/);
    expect(found).toMatch(/GATEHOUSE_MAX_BUFFERED_BYTES/);
    expect(found).toMatch(/GATEHOUSE_LATENCY_TARGET_MS/);
  });
});
