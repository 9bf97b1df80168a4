import { createMetrics, gatehouseMetrics } from '../../functions/_shared/metrics/index.ts';
import { createIntakeCounters, type IntakeCounters } from '../../functions/webhooks/counters.ts';

/**
 * Intake counters over a metrics registry of their own, and `counts()`: what they recorded
 * so far, keyed as `/metrics` writes a series (`name{label="value",...}`, labels sorted).
 */
export function countedIntake(): { counters: IntakeCounters; counts(): Record<string, number> } {
  const registry = createMetrics();
  const totals = new Map<string, number>();
  return {
    counters: createIntakeCounters(gatehouseMetrics(registry)),
    counts() {
      for (const delta of registry.drain()) {
        const labels = Object.keys(delta.labels).sort()
          .map((name) => `${name}="${delta.labels[name]}"`).join(',');
        const key = `${delta.name}{${labels}}`;
        totals.set(key, (totals.get(key) ?? 0) + delta.value);
      }
      return Object.fromEntries(totals);
    },
  };
}
