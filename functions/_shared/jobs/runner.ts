/**
 * What a job engine offers (`createJobRunner` in ./index.ts makes one), apart from the
 * engine itself, so a runtime can carry one without importing every job kind's processor.
 */
import type { WorkerReport } from '../queue/types.ts';

export interface PassOptions {
  /** Stop claiming after this long (capped at GATEHOUSE_WORKER_BUDGET_MS). */
  readonly budgetMs?: number;
  readonly queues?: readonly string[] | null;
  readonly signal?: AbortSignal;
  /** Also schedule the hourly maintenance job (the worker function and scheduler do). */
  readonly maintenance?: boolean;
}

export interface JobRunner {
  readonly workerId: string;
  /** One worker pass: runs due jobs until none is due or the budget is spent. */
  pass(options?: PassOptions): Promise<WorkerReport>;
  /**
   * Fast path after an ack: wakes a pass of this runner that is still claiming (it claims
   * the new jobs at once), else starts a short pass, coalesced with the kicks' passes. Settles
   * once a pass that claimed after the kick has ended; never rejects.
   */
  kick(): Promise<void>;
}
