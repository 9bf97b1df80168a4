import type { EventOutcome, IngestRequest } from '../_shared/webhooks/ingest.ts';
import type { GatehouseMetrics } from '../_shared/metrics/catalog.ts';
import { NO_METRICS } from '../_shared/metrics/process.ts';
import { countDecision, RATE_LIMIT_SCOPES } from '../_shared/ratelimit/decisions.ts';

/**
 * Intake counters: deliveries received per provider, events accepted or duplicate, and
 * rejections by reason (a rejected request writes nothing else), and the rate-limit
 * decisions intake made, recorded in the process's metrics (`gatehouse_webhook_*` and
 * `gatehouse_rate_limit_decisions_total` in `/metrics`).
 */
export interface IntakeCounters {
  received(provider: string): void;
  accepted(provider: string, outcomes: readonly EventOutcome[]): void;
  rejected(provider: string, reason: string): void;
  /** The optional per-address tier's answer to one delivery. */
  edgeDecided(allowed: boolean): void;
  /** What the database's buckets decided for a delivery it answered (`outcomes`). */
  bucketsDecided(request: IngestRequest, outcomes: readonly EventOutcome[]): void;
}

/** The intake counters over `record` (none: nothing is recorded). */
export function createIntakeCounters(record: GatehouseMetrics = NO_METRICS): IntakeCounters {
  return {
    received(provider) {
      record.webhookRequests.inc({ provider });
    },
    accepted(provider, outcomes) {
      for (const outcome of outcomes) {
        record.webhookEvents.inc({ provider, outcome: outcome.outcome });
      }
    },
    rejected(provider, reason) {
      record.webhookRejected.inc({ provider, reason });
    },
    edgeDecided(allowed) {
      countDecision(record, RATE_LIMIT_SCOPES.edge, allowed);
    },
    bucketsDecided(request, outcomes) {
      countBucketDecisions(record, request, outcomes);
    },
  };
}

/**
 * The decisions of intake's buckets (`ingest_events`), read from a delivery's outcomes: the
 * provider-wide bucket decided once for the delivery (every event `throttled`: limited),
 * and a sender's bucket once for each event it was asked about, a new event with a sender
 * (`rate_limited`: limited, `accepted`: allowed; a duplicate spends no token).
 */
function countBucketDecisions(
  record: GatehouseMetrics,
  request: IngestRequest,
  outcomes: readonly EventOutcome[],
): void {
  const throttled = outcomes.some((outcome) => outcome.outcome === 'throttled');
  if (request.limits.global !== null) {
    countDecision(record, RATE_LIMIT_SCOPES.intakeProvider, !throttled);
  }
  if (request.limits.sender === null || throttled) return;
  let allowed = 0;
  let limited = 0;
  outcomes.forEach((outcome, i) => {
    if (request.events[i]?.sender == null) return;
    if (outcome.outcome === 'accepted') allowed += 1;
    else if (outcome.outcome === 'rate_limited') limited += 1;
  });
  countDecision(record, RATE_LIMIT_SCOPES.intakeSender, true, allowed);
  countDecision(record, RATE_LIMIT_SCOPES.intakeSender, false, limited);
}
