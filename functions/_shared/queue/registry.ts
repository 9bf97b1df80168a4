import { DEFAULT_BACKOFF } from './backoff.ts';
import type { JobHandler, JobPolicy } from './types.ts';

export const DEFAULT_JOB_POLICY: JobPolicy = {
  maxAttempts: 5,
  backoff: DEFAULT_BACKOFF,
  timeoutMs: 60_000,
};

export interface RegisteredJob {
  readonly kind: string;
  readonly handler: JobHandler<unknown>;
  readonly policy: JobPolicy;
}

export interface JobDefinition<P> {
  readonly handler: JobHandler<P>;
  readonly policy?: Partial<JobPolicy>;
}

/**
 * Maps each job kind to its handler and retry policy. Payload types are checked where a
 * kind is registered; handlers still validate what they read, since a payload is data.
 *
 * @example
 * const registry = new JobRegistry()
 *   .register<{ orderId: string }>('orders.sync', {
 *     handler: async ({ orderId }, { tx }) => { await tx.query('...', [orderId]); },
 *     policy: { maxAttempts: 8 },
 *   });
 */
export class JobRegistry {
  readonly #jobs = new Map<string, RegisteredJob>();

  register<P>(kind: string, definition: JobDefinition<P>): this {
    if (this.#jobs.has(kind)) throw new Error(`job kind ${kind} is already registered`);
    const policy = { ...DEFAULT_JOB_POLICY, ...definition.policy };
    if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
      throw new Error(`job kind ${kind}: maxAttempts must be a whole number of at least 1`);
    }
    this.#jobs.set(kind, {
      kind,
      handler: definition.handler as JobHandler<unknown>,
      policy,
    });
    return this;
  }

  get(kind: string): RegisteredJob | undefined {
    return this.#jobs.get(kind);
  }

  kinds(): string[] {
    return [...this.#jobs.keys()].sort();
  }
}
