import { type Transaction, typed } from '../db/types.ts';
import { PermanentJobError } from '../queue/errors.ts';
import type { JobHandler } from '../queue/types.ts';
import type { AppContext, AppServices } from '../app.ts';

export interface InboundEvent {
  readonly id: number;
  readonly provider: string;
  readonly eventKey: string;
  readonly eventType: string;
  readonly sender: string | null;
  readonly payload: unknown;
  readonly requestId: string | null;
  readonly receivedAt: Date;
}

/**
 * What the app does with one stored event, inside the job's transaction. The reference
 * app plugs its processors in here; without one an event is simply marked processed.
 */
export type InboundEventProcessor = (event: InboundEvent, ctx: AppContext) => Promise<void>;

/**
 * A platform step that needs only the event's id: its statements go out right behind the
 * one that loads the event, in the same round trip, instead of after its answer. It must
 * write nothing when the event does not exist (the job then fails and rolls it back).
 */
export type InboundIdStep = (event: { readonly id: number }, ctx: AppContext) => Promise<void>;

/** What a kind's job runs: a step sent with the load, then steps run in order. */
export interface InboundSteps {
  readonly withLoad?: InboundIdStep;
  readonly then: readonly (InboundEventProcessor | undefined)[];
}

/**
 * Loads the event, locked for the job, and marks it `processed` in the same statement: the
 * mark is the job's like every step's write, seen only if they all commit.
 */
async function loadEvent(tx: Transaction, id: number): Promise<InboundEvent | null> {
  const [row] = await tx.query<Record<string, unknown>>(
    `update public.inbound_events set status = 'processed' where id = $1
     returning id, provider, event_key, event_type, sender, payload, request_id, received_at`,
    [typed(id, 'int8')],
  );
  if (!row) return null;
  return {
    id: Number(row.id),
    provider: String(row.provider),
    eventKey: String(row.event_key),
    eventType: String(row.event_type),
    sender: row.sender === null ? null : String(row.sender),
    payload: row.payload,
    requestId: row.request_id === null ? null : String(row.request_id),
    receivedAt: new Date(row.received_at as string),
  };
}

/**
 * The handler of every intake job: loads the event the job points at (marking it
 * `processed`, with the kind's `withLoad` step beside it) and runs the kind's steps in
 * order (the platform's own, then the app's processor), all in the job's transaction: a
 * step that fails rolls back every step's writes and the mark, and the retry runs them all
 * again.
 */
export function inboundEventHandler(
  services: AppServices,
  steps: InboundSteps,
): JobHandler<{ inbound_event_id?: unknown }> {
  const defined = steps.then.filter((step): step is InboundEventProcessor => step !== undefined);
  const withLoad = steps.withLoad;
  return async (payload, jobCtx) => {
    const ctx: AppContext = { ...jobCtx, ...services };
    const id = Number(payload?.inbound_event_id);
    if (!Number.isSafeInteger(id) || id < 1) {
      throw new PermanentJobError('payload has no valid inbound_event_id');
    }
    // Both are sent before either is answered; Promise.all reads both, whichever fails.
    const [event] = await Promise.all([
      loadEvent(ctx.tx, id),
      withLoad ? withLoad({ id }, ctx) : undefined,
    ]);
    if (!event) throw new PermanentJobError(`inbound event ${id} no longer exists`);
    ctx.describe({ provider: event.provider, event_key: event.eventKey });
    for (const step of defined) await step(event, ctx);
  };
}
