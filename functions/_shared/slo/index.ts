import type { HealthCheck } from '../health/index.ts';
import type { SloReader } from './read.ts';

export {
  FAST_BURN_RATE,
  LATENCY_EXCLUDED_FUNCTIONS,
  LATENCY_THRESHOLD_SECONDS,
  MIN_EVENTS_FOR_BURN,
  PLATFORM_JOB_PREFIX,
  SLO_WINDOWS,
  type SloDefinition,
  type SloKey,
  SLOS,
  type SloWindow,
  WINDOW_MS,
} from './definitions.ts';
export {
  burnsFast,
  createSloReader,
  readWindowCounts,
  type SloReader,
  type SloReaderOptions,
  type SloReport,
  sloReports,
  type SloStatus,
  type SloSummary,
  sloWindow,
  type SloWindowReport,
  type WindowCounts,
  windowStart,
} from './read.ts';

/**
 * The SLOs as a `/health` check: `degraded` while any burns fast (never `down`: a burning
 * budget is a reason to look, not to take the instance out), with every SLO's SLI per
 * window, burn rates and budget left.
 */
export function sloCheck(reader: SloReader): HealthCheck {
  return {
    name: 'slo',
    critical: false,
    async run() {
      const summary = await reader.read();
      const slos: Record<string, unknown> = {};
      for (const slo of summary.slos) {
        slos[slo.key] = {
          status: slo.status,
          objective: slo.objective,
          sli_5m: slo.windows['5m'].sli,
          sli_1h: slo.windows['1h'].sli,
          sli_30d: slo.windows['30d'].sli,
          burn_rate_5m: slo.windows['5m'].burn_rate,
          burn_rate_1h: slo.windows['1h'].burn_rate,
          budget_remaining: slo.budget_remaining,
        };
      }
      return { status: summary.status, ...slos };
    },
  };
}
