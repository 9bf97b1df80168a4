import type { EventOutcome } from '../_shared/webhooks/ingest.ts';
import type { GatehouseMetrics } from '../_shared/metrics/catalog.ts';
import { detachedMetrics } from '../_shared/metrics/process.ts';

/**
 * Intake counters: deliveries received per provider, events accepted or duplicate, and
 * rejections by reason (a rejected request writes nothing else). They go to the process's
 * metrics (`gatehouse_webhook_*` in `/metrics`); `snapshot()` shows this instance's own
 * totals since it started, for tests and tools.
 */
export interface IntakeCounters {
  received(provider: string): void;
  accepted(provider: string, outcomes: readonly EventOutcome[]): void;
  rejected(provider: string, reason: string): void;
  snapshot(): Record<string, number>;
}

/** Most distinct keys `snapshot()` tracks (the metrics themselves have their own cap). */
const SNAPSHOT_KEYS = 1_000;

export function createIntakeCounters(record: GatehouseMetrics = detachedMetrics()): IntakeCounters {
  const counts = new Map<string, number>();
  const add = (name: string) => {
    const seen = counts.get(name);
    if (seen !== undefined) counts.set(name, seen + 1);
    else if (counts.size < SNAPSHOT_KEYS) counts.set(name, 1);
  };
  return {
    received(provider) {
      record.webhookRequests.inc({ provider });
    },
    accepted(provider, outcomes) {
      for (const outcome of outcomes) {
        record.webhookEvents.inc({ provider, outcome: outcome.outcome });
        add(`webhook_events_total{provider="${provider}",outcome="${outcome.outcome}"}`);
      }
    },
    rejected(provider, reason) {
      record.webhookRejected.inc({ provider, reason });
      add(`webhook_rejected_total{provider="${provider}",reason="${reason}"}`);
    },
    snapshot() {
      return Object.fromEntries(counts);
    },
  };
}
