import type { Transaction } from '../db/types.ts';
import type { FlagReader } from '../flags/index.ts';
import type { Logger } from '../log/index.ts';
import type { BackoffPolicy } from './backoff.ts';

/** A row of `jobs` as a worker sees it after claiming it. */
export interface ClaimedJob {
  readonly id: number;
  readonly queue: string;
  readonly kind: string;
  readonly payload: unknown;
  readonly priority: number;
  /** This run's attempt number, from 1. */
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly requestId: string | null;
  readonly createdAt: Date;
  readonly runAt: Date;
}

export interface JobContext {
  /**
   * The transaction the job's completion commits in: write through it and the handler's
   * effects and the completion are one commit (a crash before it leaves neither).
   */
  readonly tx: Transaction;
  /** This run's attempt number, from 1. */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly job: Pick<ClaimedJob, 'id' | 'queue' | 'kind' | 'requestId' | 'createdAt'>;
  /** Carries the job id, kind and the request id of the delivery that created it. */
  readonly logger: Logger;
  /** Aborted at the kind's timeout or when the worker shuts down. */
  readonly signal: AbortSignal;
  /**
   * Feature flags (`feature_flags`, else the app's declared default, else enabled), read
   * through the job's transaction the first time the job asks.
   */
  readonly flags: FlagReader;
  /**
   * Adds fields to the line that reports this run's end (`job completed`, `job failed;
   * will retry`, `job dead-lettered`), e.g. the event it handled, so one line says what
   * happened to what.
   */
  describe(fields: Readonly<Record<string, string | number | boolean | null>>): void;
}

export type JobHandler<P = unknown> = (payload: P, ctx: JobContext) => Promise<void>;

export interface JobPolicy {
  /** Attempts before the job is dead-lettered (default 5). */
  readonly maxAttempts: number;
  readonly backoff: BackoffPolicy;
  /** The handler's signal aborts after this long (default 60 s). */
  readonly timeoutMs: number;
}

/** What one worker invocation did; the worker function answers with it. */
export interface WorkerReport {
  claimed: number;
  completed: number;
  retried: number;
  dead: number;
  slow: number;
  /** Jobs whose lease another worker took over; their writes were rolled back. */
  lost: number;
}

export function emptyReport(): WorkerReport {
  return { claimed: 0, completed: 0, retried: 0, dead: 0, slow: 0, lost: 0 };
}
