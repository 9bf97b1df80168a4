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
 * only the kick that gets the jobs going sooner.
 */
export type AfterAck = (delivery: AcceptedDelivery) => Promise<void>;

/**
 * Kicks the worker when the delivery enqueued jobs: the fast path from ack to processing
 * (cron only sweeps up what a kick missed).
 */
export function kickWorker(kick: () => Promise<void>): AfterAck {
  return async ({ outcomes }) => {
    if (outcomes.some((outcome) => outcome.jobId !== null)) await kick();
  };
}

/** Starts `afterAck` in the background for a delivery that stored something; else nothing. */
export function startAfterAck(
  deps: { readonly afterAck?: AfterAck; readonly background: (task: Promise<unknown>) => void },
  delivery: AcceptedDelivery,
): void {
  if (deps.afterAck && storedAny(delivery.outcomes)) deps.background(deps.afterAck(delivery));
}
