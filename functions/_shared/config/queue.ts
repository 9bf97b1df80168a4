import { z } from 'zod';
import { wholeNumber } from './fields.ts';

/** Defaults of the job engine; each has an environment variable (docs/configuration.md). */
export const QUEUE_DEFAULTS = {
  workerBudgetMs: 25_000,
  batchSize: 10,
  concurrency: 10,
  leaseSeconds: 15,
  slowJobMs: 30_000,
  depthWarning: 1_000,
  depthCritical: 2_000,
  retentionDays: 7,
  schedulerIntervalMs: 1_000,
} as const;

export interface QueueConfig {
  /** How long one worker invocation keeps claiming jobs. */
  readonly workerBudgetMs: number;
  /** Jobs claimed per round trip. */
  readonly batchSize: number;
  /** Jobs one worker runs at the same time. */
  readonly concurrency: number;
  /**
   * A claimed job is the worker's for this long. Each worker pass renews the leases of all
   * its jobs every third of it, so a job outlives its lease as long as its worker lives,
   * and a dead worker's jobs run again about one lease after its last renewal.
   */
  readonly leaseSeconds: number;
  /** Runs longer than this are recorded in `slow_jobs`. */
  readonly slowJobMs: number;
  /** Due jobs in one queue that make `/health` degraded, and down. */
  readonly depthWarning: number;
  readonly depthCritical: number;
  /** Completed jobs and settled inbound events are purged after this many days. */
  readonly retentionDays: number;
  /** The local server's scheduler period; 0 switches it off. */
  readonly schedulerIntervalMs: number;
}

/** The job engine's variables, merged into the main schema. */
export const queueEnvShape = {
  GATEHOUSE_WORKER_BUDGET_MS: wholeNumber(100, 600_000),
  GATEHOUSE_WORKER_BATCH_SIZE: wholeNumber(1, 1_000),
  GATEHOUSE_WORKER_CONCURRENCY: wholeNumber(1, 1_000),
  GATEHOUSE_JOB_LEASE_SECONDS: wholeNumber(5, 86_400),
  GATEHOUSE_SLOW_JOB_MS: wholeNumber(1, 86_400_000),
  GATEHOUSE_QUEUE_DEPTH_WARNING: wholeNumber(1, 100_000_000),
  GATEHOUSE_QUEUE_DEPTH_CRITICAL: wholeNumber(1, 100_000_000),
  GATEHOUSE_RETENTION_DAYS: wholeNumber(1, 3_650),
  GATEHOUSE_SCHEDULER_INTERVAL_MS: wholeNumber(0, 3_600_000),
};

type QueueEnv = {
  readonly [K in keyof typeof queueEnvShape]?: z.output<(typeof queueEnvShape)[K]>;
};

/** Builds the queue settings, adding a line to `problems` for each inconsistent pair. */
export function queueConfig(parsed: QueueEnv, problems: string[]): QueueConfig {
  const config: QueueConfig = {
    workerBudgetMs: parsed.GATEHOUSE_WORKER_BUDGET_MS ?? QUEUE_DEFAULTS.workerBudgetMs,
    batchSize: parsed.GATEHOUSE_WORKER_BATCH_SIZE ?? QUEUE_DEFAULTS.batchSize,
    concurrency: parsed.GATEHOUSE_WORKER_CONCURRENCY ?? QUEUE_DEFAULTS.concurrency,
    leaseSeconds: parsed.GATEHOUSE_JOB_LEASE_SECONDS ?? QUEUE_DEFAULTS.leaseSeconds,
    slowJobMs: parsed.GATEHOUSE_SLOW_JOB_MS ?? QUEUE_DEFAULTS.slowJobMs,
    depthWarning: parsed.GATEHOUSE_QUEUE_DEPTH_WARNING ?? QUEUE_DEFAULTS.depthWarning,
    depthCritical: parsed.GATEHOUSE_QUEUE_DEPTH_CRITICAL ?? QUEUE_DEFAULTS.depthCritical,
    retentionDays: parsed.GATEHOUSE_RETENTION_DAYS ?? QUEUE_DEFAULTS.retentionDays,
    schedulerIntervalMs: parsed.GATEHOUSE_SCHEDULER_INTERVAL_MS ??
      QUEUE_DEFAULTS.schedulerIntervalMs,
  };
  if (config.depthCritical <= config.depthWarning) {
    problems.push(
      `GATEHOUSE_QUEUE_DEPTH_CRITICAL: must be greater than the warning level (${config.depthWarning})`,
    );
  }
  return config;
}
