import type { EventOutcome } from '../_shared/webhooks/ingest.ts';
import type { GatehouseMetrics } from '../_shared/metrics/catalog.ts';
import { NO_METRICS } from '../_shared/metrics/process.ts';

/**
 * Intake counters: deliveries received per provider, events accepted or duplicate, and
 * rejections by reason (a rejected request writes nothing else), recorded in the process's
 * metrics (`gatehouse_webhook_*` in `/metrics`).
 */
export interface IntakeCounters {
  received(provider: string): void;
  accepted(provider: string, outcomes: readonly EventOutcome[]): void;
  rejected(provider: string, reason: string): void;
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
  };
}
