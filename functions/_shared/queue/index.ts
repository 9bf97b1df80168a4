export { backoffCeiling, backoffDelay, type BackoffPolicy, DEFAULT_BACKOFF } from './backoff.ts';
export { JobTimeoutError, LeaseLostError, PermanentJobError, RetryJobError } from './errors.ts';
export { queueCheck, type QueueHealth, queueHealth, rateQueues } from './health.ts';
export { createKicker } from './kicker.ts';
export { DEFAULT_JOB_POLICY, type JobDefinition, JobRegistry } from './registry.ts';
export {
  claimJobs,
  completeJob,
  type DeadJob,
  type DeadJobFilter,
  enqueueJobs,
  failJob,
  listDeadJobs,
  type NewJob,
  purgeRetention,
  type QueueStats,
  queueStats,
  replayDeadJobs,
} from './store.ts';
export type { ClaimedJob, JobContext, JobHandler, JobPolicy, WorkerReport } from './types.ts';
export { newWorkerId, PRESSED_START_GAP_MS, runWorker, type WorkerOptions } from './worker.ts';
