/**
 * How a handler says what should happen after it failed. Any other error is transient:
 * the job is retried with backoff until its attempts are used up.
 */

/** The job can never succeed (bad payload, unknown entity): dead-letter it now. */
export class PermanentJobError extends Error {
  override readonly name = 'PermanentJobError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Retry, optionally after a delay the handler knows (e.g. an upstream's `Retry-After`). */
export class RetryJobError extends Error {
  override readonly name = 'RetryJobError';
  constructor(message: string, readonly retryInMs?: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The job's lease passed to another worker before it completed: its writes rolled back. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
  constructor(readonly jobId: number) {
    super(`job ${jobId}: lease lost before completion; its writes were rolled back`);
  }
}

/** The handler ran past its kind's timeout. Retried like any transient failure. */
export class JobTimeoutError extends Error {
  override readonly name = 'JobTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`handler timed out after ${timeoutMs} ms`);
  }
}
