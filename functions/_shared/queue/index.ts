export { backoffCeiling, backoffDelay, type BackoffPolicy, DEFAULT_BACKOFF } from './backoff.ts';
export { JobTimeoutError, LeaseLostError, PermanentJobError, RetryJobError } from './errors.ts';
export { queueCheck, type QueueHealth, queueHealth, rateQueues } from './health.ts';
export { createKicker } from './kicker.ts';
export { DEFAULT_JOB_POLICY, type JobDefinition, JobRegistry } from './registry.ts';
export {
  claimJobs,
  completeJob,
  enqueueJobs,
  failJob,
  type NewJob,
  purgeRetention,
  type QueueStats,
  queueStats,
} from './store.ts';
export {
  ALL_TIME,
  type DeadJob,
  type DeadJobFilter,
  type DeadJobPageOptions,
  type JobError,
  listDeadJobs,
  pageDeadJobs,
  replayDeadJobs,
} from './dead-letters.ts';
export {
  findJob,
  JOB_STATES,
  type JobDetail,
  type JobFilter,
  type JobState,
  type JobSummary,
  pageJobs,
} from './job-listing.ts';
export type { ClaimedJob, JobContext, JobHandler, JobPolicy, WorkerReport } from './types.ts';
export { newWorkerId, PRESSED_START_GAP_MS, runWorker, type WorkerOptions } from './worker.ts';
