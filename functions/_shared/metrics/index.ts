export {
  type BoundCounter,
  type Counter,
  createMetrics,
  DEFAULT_MAX_SERIES_PER_METRIC,
  type Gauge,
  type Histogram,
  type LabelValues,
  type MetricDefinition,
  type MetricKind,
  Metrics,
  type MetricsOptions,
  OVERFLOW_LABEL,
  type SeriesDelta,
} from './registry.ts';
export {
  CATALOG,
  type GatehouseMetrics,
  gatehouseMetrics,
  JOB_BUCKETS,
  LATENCY_BUCKETS,
  LIVE_CATALOG,
} from './catalog.ts';
export {
  createMetricsFlusher,
  type FlusherOptions,
  mergeDeltas,
  type MetricsFlusher,
  writeDeltas,
} from './store.ts';
export {
  type AggregatedSeries,
  GAUGE_FRESHNESS_MS,
  readAggregated,
  renderExposition,
} from './exposition.ts';
export {
  createProcessMetrics,
  NO_METRICS,
  type ProcessMetrics,
  type ProcessMetricsOptions,
  processRecorders,
} from './process.ts';
