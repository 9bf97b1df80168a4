import { DatabaseUnavailableError, type Queryable, typed } from '../db/types.ts';
import { createCommitQueue, type Entry } from './commit-queue.ts';
import type { IntakeEvent } from './events/types.ts';
import { asInputRefusal } from './input-refused.ts';

export interface BucketLimit {
  readonly capacity: number;
  readonly refillPerSecond: number;
}

export interface IngestLimits {
  /** The provider-wide bucket (429 when empty); null for none. */
  readonly global: (BucketLimit & { readonly key: string }) | null;
  /** Per-sender buckets (event stored as `rate_limited` when empty); null for none. */
  readonly sender: BucketLimit | null;
}

export interface IngestRequest {
  readonly provider: string;
  readonly requestId: string;
  readonly events: readonly IntakeEvent[];
  readonly limits: IngestLimits;
}

export type Outcome = 'accepted' | 'duplicate' | 'rate_limited' | 'throttled';

export interface EventOutcome {
  readonly outcome: Outcome;
  readonly eventId: string | null;
  readonly jobId: string | null;
  readonly retryAfterMs: number;
}

export interface Ingestor {
  /** Stores the request's events (one commit, possibly shared); resolves after commit. */
  ingest(request: IngestRequest): Promise<EventOutcome[]>;
}

export interface IngestorOptions {
  /** Most events in one intake call. */
  readonly maxBatchEvents?: number;
  /**
   * Calls in flight at once per provider and limit; the rest wait and batch up. The default,
   * 1, is group commit: whatever arrives while a call is in flight goes out together as
   * soon as it commits. Every call of a group takes the same provider bucket row, so calls
   * in flight together commit one after the other anyway, and each commit (a WAL flush)
   * costs the database the same whatever the batch size.
   */
  readonly maxInFlight?: number;
  /**
   * Called after every intake call with how many events it carried and how long it
   * took from send to answer (a failed call too): how well requests share commits.
   */
  readonly onCall?: (call: IngestCall) => void;
  /**
   * Longest a request waits for its commit, waiting for a call included, in ms (0: no
   * limit). Past it the request is answered with {@link DatabaseTimeoutError} (503 upstream)
   * even if its call is still running: a stuck call never holds later requests beyond
   * their own deadline. A request still queued then is dropped and never sent; one already
   * sent may still commit (a provider's retry is then a duplicate).
   */
  readonly timeoutMs?: number;
  /**
   * Intake calls in flight at once over all providers and limit keys: the share of the pool
   * intake may use.
   */
  readonly maxCalls?: number;
  /**
   * Groups (provider and limit key, e.g. WhatsApp numbers) one commit may carry when every
   * call slot is busy; defaults to {@link DEFAULT_GROUPS_PER_CALL}. 1 sends each group alone.
   */
  readonly maxGroupsPerCall?: number;
  /** Shedding a standing queue (see commit-queue.ts); defaults to {@link INTAKE_OVERLOAD}. */
  readonly overload?: { readonly targetMs: number; readonly intervalMs: number };
}

/**
 * Intake's shedding rule: once deliveries have waited for a call without a break for 100 ms,
 * one that has waited more than 25 ms is answered 503 instead of being sent late. A delivery
 * that is accepted has then waited at most about 50 ms for its call, however large the
 * overload; a burst that clears within 100 ms is never shed.
 */
export const INTAKE_OVERLOAD = { targetMs: 25, intervalMs: 100 } as const;
/**
 * Calls in flight by default, over all groups. Each commit costs Postgres a WAL flush and
 * each call about half a millisecond before its first event, so under load spread over
 * many groups (WhatsApp numbers) a few calls carrying several groups each cost the database
 * less than many small ones; two keep one call executing while the other commits. Lone
 * requests still go out at once. The rest of the pool (10) stays free for jobs and health.
 */
export const DEFAULT_INGEST_CALLS = 2;
/**
 * Groups one `ingest_event_groups` call carries at most: deliveries for many WhatsApp
 * numbers then share a commit, and one set-based pass, as deliveries for one number do.
 */
export const DEFAULT_GROUPS_PER_CALL = 500;

export interface IngestCall {
  readonly events: number;
  readonly milliseconds: number;
  readonly ok: boolean;
  /** Groups (provider and limit key) the call carried. */
  readonly groups: number;
}

/**
 * How long a statement text must be for postgres.js to write it to the socket at once: it
 * keeps a shorter message for a `setImmediate` to coalesce small writes (`write()` in its
 * connection.js), and under group commit that moment comes only after every answer of the
 * batch that just committed has been handed over, about a millisecond for 32 webhooks.
 */
export const WRITE_AT_ONCE_BYTES = 1024;

/**
 * The intake statements, padded with a comment to {@link WRITE_AT_ONCE_BYTES}, so the next
 * call's Parse reaches Postgres while the finished batch is being answered instead of after
 * it (the comment costs Postgres's lexer nothing worth measuring; the intake benchmark
 * gained about a tenth). A call carrying one group (load on one WhatsApp number, or one
 * provider) runs `ingest_events`; several groups run `ingest_event_groups`, one set-based
 * pass for all (`npm run bench:ingest-groups`: about a third of the Postgres CPU per event
 * for 32 groups of one event, while for one group of 32 `ingest_events` costs a seventh
 * less). Both take their locks in the same order.
 */
export const INGEST_STATEMENT = padStatement(
  'select 0 as part, r.* from public.ingest_events($1, $2::jsonb, $3::jsonb) r',
);
export const INGEST_GROUPS_STATEMENT = padStatement(
  'select * from public.ingest_event_groups($1::jsonb)',
);

/**
 * Requests of one provider with the same limits share a group (and its bucket rows). The
 * key is built by concatenation (a `JSON.stringify` of the same was about 2 % of the
 * server's busy time in the intake benchmark); the strings are length-prefixed and the
 * numbers' texts hold no `/` or `|`, so two different groups never share a key.
 */
export function groupKey({ provider, limits: { global, sender } }: IngestRequest): string {
  const globalPart = global === null
    ? '-'
    : `${global.key.length}:${global.key}/${global.capacity}/${global.refillPerSecond}`;
  const senderPart = sender === null ? '-' : `${sender.capacity}/${sender.refillPerSecond}`;
  return `${provider.length}:${provider}|${globalPart}|${senderPart}`;
}

function padStatement(statement: string): string {
  const note = ` -- padded so the driver writes it at once (see ingest.ts) `;
  return (statement + note).padEnd(WRITE_AT_ONCE_BYTES, '-');
}

type Row = {
  part: number;
  slot: number;
  outcome: Outcome;
  event_id: string | null;
  job_id: string | null;
  retry_after_ms: number;
};

/**
 * Intake's one database round trip, with micro-batching (group commit): requests that
 * arrive while the previous call is in flight are combined into the next call, sent the
 * moment that call commits, so under load many webhooks share one commit
 * (and one take from the provider's bucket) while a lone request is flushed at once. Each
 * request still gets its own outcomes, only after the commit that made its events durable.
 *
 * @example
 * const ingestor = createIngestor(db);
 * const [first] = await ingestor.ingest({ provider: 'stripe', requestId, events, limits });
 * if (first.outcome === 'throttled') throw new ProblemError(429, ...);
 */
export function createIngestor(db: Queryable, options: IngestorOptions = {}): Ingestor {
  const onCall = options.onCall;
  /**
   * A request as it waits for its call: its group's provider and limits, and each event
   * already in the JSON the call sends (without its slot). Serialised when the request is
   * submitted, from the objects its body was just parsed into, rather than by the driver
   * when the call is made, after they have waited among other requests' data: in CPU
   * profiles of the intake benchmark the driver and the ingestor together then took 25.2 %
   * of the server thread's busy time against 26.9 % (docs/benchmarks.md). The call only
   * joins the texts.
   */
  interface Queued {
    readonly provider: string;
    readonly limits: IngestLimits;
    readonly events: readonly string[];
  }
  type Pending = Entry<Queued, EventOutcome[]>;

  function queued(request: IngestRequest): Queued {
    const requestId = request.requestId;
    return {
      provider: request.provider,
      limits: request.limits,
      events: request.events.map((event) =>
        JSON.stringify({
          key: event.key,
          type: event.type,
          kind: event.kind,
          sender: event.sender,
          payload: event.payload,
          request_id: requestId,
        })
      ),
    };
  }

  /**
   * One group's batch as `ingest_events` takes it: its provider, its limits and the JSON
   * array of its events, each numbered by its slot (the batch's events in order, so each
   * request's outcomes are a slice).
   */
  function groupOf(batch: readonly Pending[]) {
    const first = batch[0]!.item;
    const events: string[] = [];
    for (const pending of batch) {
      for (const event of pending.item.events) {
        // `{"key":...}` becomes `{"slot":n,"key":...}`.
        events.push(`{"slot":${events.length},${event.slice(1)}`);
      }
    }
    const limits = {
      global: first.limits.global && {
        key: first.limits.global.key,
        capacity: first.limits.global.capacity,
        refill_per_second: first.limits.global.refillPerSecond,
      },
      sender: first.limits.sender && {
        capacity: first.limits.sender.capacity,
        refill_per_second: first.limits.sender.refillPerSecond,
      },
    };
    return { provider: first.provider, limits, events: `[${events.join(',')}]` };
  }

  /** `ingest_event_groups`'s argument: the groups as JSON, each group's events already text. */
  function groupsJson(groups: readonly ReturnType<typeof groupOf>[]): string {
    const texts = groups.map(({ provider, limits, events }) =>
      `{"provider":${JSON.stringify(provider)},"limits":${
        JSON.stringify(limits)
      },"events":${events}}`
    );
    return `[${texts.join(',')}]`;
  }

  /** 503, never a 500: the requests are refused and their providers retry. */
  const incompleteAnswer = () =>
    new DatabaseUnavailableError('ingest_event_groups answered incompletely', {
      reason: 'unreachable',
    });

  /**
   * Stores the batches of one or more groups in one call, so one commit (each group takes its
   * own buckets and a short one answers `throttled` rows, never an error), in the order the
   * queue gives them (group-key order).
   */
  async function call(parts: readonly Pending[][]): Promise<EventOutcome[][][]> {
    const sizes = parts.map((batch) =>
      batch.reduce((n, pending) => n + pending.item.events.length, 0)
    );
    const groups = parts.map((batch) => groupOf(batch));
    const events = sizes.reduce((sum, size) => sum + size, 0);
    const started = performance.now();
    let rows: Row[] | undefined;
    try {
      // The events go as JSON text, which the statements cast to jsonb.
      rows = await (groups.length === 1
        ? db.query<Row>(INGEST_STATEMENT, [
          typed(groups[0]!.provider, 'text'),
          typed(groups[0]!.events, 'text'),
          typed(groups[0]!.limits, 'jsonb'),
        ])
        : db.query<Row>(INGEST_GROUPS_STATEMENT, [typed(groupsJson(groups), 'text')]));
    } finally {
      const milliseconds = performance.now() - started;
      onCall?.({ events, milliseconds, ok: rows !== undefined, groups: parts.length });
    }
    const outcomes = sizes.map((size) => new Array<EventOutcome | undefined>(size));
    for (const row of rows) {
      // A connection that ends mid-answer (Postgres shutting down) can leave holes in the
      // rows the driver hands back: the answer is incomplete, so is what it says was stored.
      if (typeof row !== 'object' || row === null) throw incompleteAnswer();
      const part = outcomes[row.part];
      if (part === undefined) throw incompleteAnswer();
      part[row.slot] = {
        outcome: row.outcome,
        eventId: row.event_id === null ? null : String(row.event_id),
        jobId: row.job_id === null ? null : String(row.job_id),
        retryAfterMs: row.retry_after_ms,
      };
    }
    return parts.map((batch, index) => {
      const slots = outcomes[index]!;
      if (slots.includes(undefined)) throw incompleteAnswer();
      let offset = 0;
      return batch.map((pending) => {
        const size = pending.item.events.length;
        offset += size;
        return slots.slice(offset - size, offset) as EventOutcome[];
      });
    });
  }

  /**
   * Stores the batches and answers their requests. `release` frees the call's slot and
   * issues the call for what queued up meanwhile; it runs as soon as the database has
   * answered, before the requests are woken, and that call's Parse (padded to 1 KiB) is
   * written in the same turn, so Postgres parses it while these answers go out.
   */
  async function flush(parts: Pending[][], release: () => void): Promise<void> {
    let results: EventOutcome[][][];
    try {
      results = await call(parts);
    } catch (error) {
      const requests = parts.flat();
      const retryable = !(error instanceof DatabaseUnavailableError) ||
        error.reason === 'conflict';
      if (requests.length === 1 || !retryable) {
        release();
        // Alone in its call, a request whose values the database refused learns so (400).
        const answer = requests.length === 1 ? asInputRefusal(error) : error;
        for (const pending of requests) pending.reject(answer);
        return;
      }
      // One request's data (or a lock conflict between groups) broke the shared call:
      // retry each group alone, and within a group each request alone, so only it fails.
      await Promise.all(
        parts.length > 1
          ? parts.map((batch) => flush([batch], () => {}))
          : requests.map((pending) => flush([[pending]], () => {})),
      );
      release();
      return;
    }
    release();
    parts.forEach((batch, i) => batch.forEach((pending, j) => pending.resolve(results[i]![j]!)));
  }

  const queue = createCommitQueue<Queued, EventOutcome[]>(flush, {
    maxBatchSize: options.maxBatchEvents ?? 500,
    maxInFlightPerGroup: options.maxInFlight ?? 1,
    maxCalls: options.maxCalls ?? DEFAULT_INGEST_CALLS,
    maxGroupsPerCall: options.maxGroupsPerCall ?? DEFAULT_GROUPS_PER_CALL,
    timeoutMs: options.timeoutMs ?? 0,
    overload: options.overload ?? INTAKE_OVERLOAD,
  });

  return {
    ingest(request) {
      if (request.events.length === 0) return Promise.resolve([]);
      return queue.submit(groupKey(request), queued(request), request.events.length);
    },
  };
}
