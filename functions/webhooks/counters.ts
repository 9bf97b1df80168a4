import type { EventOutcome } from '../_shared/webhooks/ingest.ts';

/**
 * In-process intake counters (accepted, duplicate, rate_limited per provider; rejections
 * by reason): a rejected request writes nothing else. Nothing exposes them yet; the
 * metrics module will aggregate them across instances into `system_metrics`.
 */
export interface IntakeCounters {
  accepted(provider: string, outcomes: readonly EventOutcome[]): void;
  rejected(provider: string, reason: string): void;
  snapshot(): Record<string, number>;
}

export function createIntakeCounters(): IntakeCounters {
  const counts = new Map<string, number>();
  const add = (name: string, by = 1) => counts.set(name, (counts.get(name) ?? 0) + by);
  return {
    accepted(provider, outcomes) {
      for (const outcome of outcomes) {
        add(`webhook_events_total{provider="${provider}",outcome="${outcome.outcome}"}`);
      }
    },
    rejected(provider, reason) {
      add(`webhook_rejected_total{provider="${provider}",reason="${reason}"}`);
    },
    snapshot() {
      return Object.fromEntries(counts);
    },
  };
}
