import type { IntakeEvent } from '../_shared/webhooks/events/types.ts';
import type { EventOutcome } from '../_shared/webhooks/ingest.ts';
import { storedAny } from './store.ts';

export interface AcceptedDelivery {
  readonly provider: string;
  readonly events: readonly IntakeEvent[];
  readonly outcomes: readonly EventOutcome[];
}

/**
 * Work that runs after the 200 has been sent; its failure never affects the ack. Nothing
 * retries it, so it holds no effect of the delivery (those run in the delivery's jobs):
 * only the kick that gets the jobs going sooner. Where deliveries share the work, return the
 * shared promise (as the kick does): `background` tracks a promise once, and a promise of
 * each delivery's own that waits long keeps the delivery (its body, its request context)
 * alive meanwhile, which under a flood is what fills the old generation.
 */
export type AfterAck = (delivery: AcceptedDelivery) => Promise<void>;

/**
 * Kicks the worker when the delivery enqueued jobs: the fast path from ack to processing
 * (cron only sweeps up what a kick missed).
 */
export function kickWorker(kick: () => Promise<void>): AfterAck {
  // The kick's own promise, not one of this delivery's: kicks are coalesced, and a promise
  // per delivery waiting on the pass would keep the delivery alive until the pass ends.
  return ({ outcomes }) =>
    outcomes.some((outcome) => outcome.jobId !== null) ? kick() : NOTHING_TO_KICK;
}

const NOTHING_TO_KICK: Promise<void> = Promise.resolve();

/** Starts `afterAck` in the background for a delivery that stored something; else nothing. */
export function startAfterAck(
  deps: { readonly afterAck?: AfterAck; readonly background: (task: Promise<unknown>) => void },
  delivery: AcceptedDelivery,
): void {
  if (!deps.afterAck || !storedAny(delivery.outcomes)) return;
  let task: Promise<void>;
  try {
    task = deps.afterAck(delivery);
  } catch (error) {
    // Thrown before it returned a promise: a failed task like any other, never the ack's.
    task = Promise.reject(error);
  }
  deps.background(task);
}
