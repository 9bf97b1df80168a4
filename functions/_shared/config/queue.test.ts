import { describe, expect, it } from 'vitest';
import { configProblems } from '../../../tests/support/config.ts';
import { parseConfig, QUEUE_DEFAULTS } from './index.ts';

describe('job engine settings', () => {
  it('defaults to a 25 s budget, batches of 10, 15 s leases, 1,000/2,000 depth, 7 days', () => {
    expect(parseConfig({}).queue).toEqual(QUEUE_DEFAULTS);
    expect(QUEUE_DEFAULTS).toMatchObject({
      workerBudgetMs: 25_000,
      batchSize: 10,
      leaseSeconds: 15,
      slowJobMs: 30_000,
      depthWarning: 1_000,
      depthCritical: 2_000,
      retentionDays: 7,
      schedulerIntervalMs: 1_000,
    });
  });

  it('reads every variable', () => {
    expect(
      parseConfig({
        GATEHOUSE_WORKER_BUDGET_MS: '5000',
        GATEHOUSE_WORKER_BATCH_SIZE: '50',
        GATEHOUSE_WORKER_CONCURRENCY: '20',
        GATEHOUSE_JOB_LEASE_SECONDS: '120',
        GATEHOUSE_SLOW_JOB_MS: '1000',
        GATEHOUSE_QUEUE_DEPTH_WARNING: '10',
        GATEHOUSE_QUEUE_DEPTH_CRITICAL: '20',
        GATEHOUSE_RETENTION_DAYS: '30',
        GATEHOUSE_SCHEDULER_INTERVAL_MS: '0',
      }).queue,
    ).toEqual({
      workerBudgetMs: 5_000,
      batchSize: 50,
      concurrency: 20,
      leaseSeconds: 120,
      slowJobMs: 1_000,
      depthWarning: 10,
      depthCritical: 20,
      retentionDays: 30,
      schedulerIntervalMs: 0,
    });
  });

  it('names each bad value', () => {
    expect(configProblems({ GATEHOUSE_WORKER_BATCH_SIZE: 'ten', GATEHOUSE_JOB_LEASE_SECONDS: '1' }))
      .toEqual([
        'GATEHOUSE_WORKER_BATCH_SIZE: must be a whole number between 1 and 1000 (got "ten")',
        'GATEHOUSE_JOB_LEASE_SECONDS: must be at least 5 (got "1")',
      ]);
  });

  it('refuses a critical depth that is not above the warning depth', () => {
    expect(
      configProblems({
        GATEHOUSE_QUEUE_DEPTH_WARNING: '500',
        GATEHOUSE_QUEUE_DEPTH_CRITICAL: '500',
      }),
    )
      .toEqual([
        'GATEHOUSE_QUEUE_DEPTH_CRITICAL: must be greater than the warning level (500)',
      ]);
  });
});
