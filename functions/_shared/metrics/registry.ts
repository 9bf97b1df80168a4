/**
 * In-process metrics: counters, gauges and histograms recorded in memory (a map lookup and
 * an add, well under a microsecond) and handed over in aggregate by {@link Metrics.drain},
 * which the flush (flush.ts) adds to `system_metrics`. Nothing here does I/O.
 *
 * Label values come from requests (a provider's name, a route pattern, a job kind), so each
 * metric keeps at most `maxSeriesPerMetric` label sets between flushes; the rest are
 * recorded under one overflow series whose every label is `_other`, and counted.
 */

export type MetricKind = 'counter' | 'gauge' | 'histogram';

export interface MetricDefinition<L extends string = string> {
  /** Prometheus name: `[a-zA-Z_:][a-zA-Z0-9_:]*`; counters end in `_total`. */
  readonly name: string;
  readonly help: string;
  readonly kind: MetricKind;
  /** Label names, in the order series keys are built. */
  readonly labels: readonly L[];
  /** Histograms: upper bounds, increasing (the +Inf bucket is implied). */
  readonly buckets?: readonly number[];
}

export type LabelValues<L extends string> = { readonly [K in L]: string | number };

export interface Counter<L extends string = string> {
  readonly definition: MetricDefinition<L>;
  inc(labels: LabelValues<L>, by?: number): void;
  /**
   * The series of `labels`, found once per flush interval instead of once per call: for a
   * hot path that counts the same few label sets again and again (flag evaluations).
   */
  bind(labels: LabelValues<L>): BoundCounter;
}

/** One series of a counter (see {@link Counter.bind}). */
export interface BoundCounter {
  inc(by?: number): void;
}

export interface Gauge<L extends string = string> {
  readonly definition: MetricDefinition<L>;
  set(labels: LabelValues<L>, value: number): void;
  /**
   * Sets the series to `value` unless a higher value was set since the last drain: the
   * peak of the interval, for a gauge sampled on every change (a pool's share busy).
   */
  setMax(labels: LabelValues<L>, value: number): void;
}

export interface Histogram<L extends string = string> {
  readonly definition: MetricDefinition<L>;
  observe(labels: LabelValues<L>, value: number): void;
}

/** What changed in one series since the last drain. */
export interface SeriesDelta {
  readonly name: string;
  readonly kind: MetricKind;
  readonly labels: Readonly<Record<string, string>>;
  /** counter: the increase; gauge: the last value set; histogram: the sum observed. */
  readonly value: number;
  /** histogram: observations; gauge: how many times it was set. */
  readonly count: number;
  /** histogram: upper bounds and per-bound counts (one more: above every bound). */
  readonly bounds: readonly number[] | null;
  readonly counts: readonly number[] | null;
}

export interface MetricsOptions {
  /** Label sets kept per metric between flushes; more go to the `_other` series. */
  readonly maxSeriesPerMetric?: number;
  /** Longest label value kept; longer ones are cut. */
  readonly maxLabelLength?: number;
}

export const DEFAULT_MAX_SERIES_PER_METRIC = 500;
export const DEFAULT_MAX_LABEL_LENGTH = 120;
export const OVERFLOW_LABEL = '_other';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const SEPARATOR = '\u001f';

interface Series {
  readonly values: readonly string[];
  value: number;
  count: number;
  counts: number[] | null;
}

class Metric {
  series = new Map<string, Series>();
  overflowed = 0;
  constructor(readonly definition: MetricDefinition, readonly bounds: readonly number[] | null) {}
}

/**
 * The process's metrics. Define each metric once (`counter`, `gauge`, `histogram`; defining
 * the same name again returns the same metric when the definition matches, throws if not),
 * record on the hot path, and let the flush `drain()` it.
 *
 * @example
 * const metrics = createMetrics();
 * const deliveries = metrics.counter({ name: 'x_total', help: 'X.', kind: 'counter', labels: ['provider'] });
 * deliveries.inc({ provider: 'stripe' });
 * metrics.drain(); // [{ name: 'x_total', labels: { provider: 'stripe' }, value: 1, ... }]
 */
export class Metrics {
  readonly #metrics = new Map<string, Metric>();
  readonly #maxSeries: number;
  readonly #maxLabel: number;
  #dropped = 0;
  /** Drains so far: a bound series found before the last one is looked up again. */
  #drains = 0;

  constructor(options: MetricsOptions = {}) {
    this.#maxSeries = options.maxSeriesPerMetric ?? DEFAULT_MAX_SERIES_PER_METRIC;
    this.#maxLabel = options.maxLabelLength ?? DEFAULT_MAX_LABEL_LENGTH;
  }

  /** Every metric defined in this process, in definition order. */
  definitions(): MetricDefinition[] {
    return [...this.#metrics.values()].map((metric) => metric.definition);
  }

  counter<L extends string>(definition: MetricDefinition<L>): Counter<L> {
    const metric = this.#define(definition, 'counter');
    return {
      definition,
      inc: (labels, by = 1) => {
        if (!(by >= 0) || by === Infinity) return; // a counter only goes up, by a finite step
        this.#series(metric, labels).value += by;
      },
      bind: (labels) => {
        let series: Series | undefined;
        let found = -1;
        return {
          inc: (by = 1) => {
            if (!(by >= 0) || by === Infinity) return;
            if (found !== this.#drains) {
              series = this.#series(metric, labels);
              found = this.#drains;
            }
            series!.value += by;
          },
        };
      },
    };
  }

  gauge<L extends string>(definition: MetricDefinition<L>): Gauge<L> {
    const metric = this.#define(definition, 'gauge');
    return {
      definition,
      set: (labels, value) => {
        if (!Number.isFinite(value)) return;
        const series = this.#series(metric, labels);
        series.value = value;
        series.count += 1;
      },
      setMax: (labels, value) => {
        if (!Number.isFinite(value)) return;
        const series = this.#series(metric, labels);
        if (series.count === 0 || value > series.value) series.value = value;
        series.count += 1;
      },
    };
  }

  histogram<L extends string>(definition: MetricDefinition<L>): Histogram<L> {
    const metric = this.#define(definition, 'histogram');
    const bounds = metric.bounds!;
    const last = bounds.length;
    return {
      definition,
      observe: (labels, value) => {
        if (!Number.isFinite(value)) return;
        const series = this.#series(metric, labels);
        let i = 0;
        while (i < last && value > bounds[i]!) i++;
        series.counts![i]! += 1;
        series.value += value;
        series.count += 1;
      },
    };
  }

  /**
   * Hands over what was recorded since the last drain and starts afresh. Series that saw
   * nothing are left out. Label sets refused for the series cap show up as `_other` and in
   * `gatehouse_metrics_series_overflow_total`.
   */
  drain(): SeriesDelta[] {
    const out: SeriesDelta[] = [];
    let overflowed = this.#dropped;
    this.#dropped = 0;
    this.#drains += 1;
    for (const metric of this.#metrics.values()) {
      const { definition } = metric;
      overflowed += metric.overflowed;
      metric.overflowed = 0;
      for (const series of metric.series.values()) {
        if (series.count === 0 && series.value === 0 && definition.kind !== 'gauge') continue;
        if (definition.kind === 'gauge' && series.count === 0) continue;
        const labels: Record<string, string> = {};
        definition.labels.forEach((name, i) => (labels[name] = series.values[i]!));
        out.push({
          name: definition.name,
          kind: definition.kind,
          labels,
          value: series.value,
          count: series.count,
          bounds: metric.bounds,
          counts: series.counts,
        });
      }
      metric.series = new Map();
    }
    if (overflowed > 0) {
      out.push({
        name: 'gatehouse_metrics_series_overflow_total',
        kind: 'counter',
        labels: {},
        value: overflowed,
        count: 0,
        bounds: null,
        counts: null,
      });
    }
    return out;
  }

  /**
   * Gives back deltas a flush could not write, so the next flush carries them: counters and
   * histograms add up, a gauge keeps the value recorded since if there is one.
   */
  restore(deltas: readonly SeriesDelta[]): void {
    for (const delta of deltas) {
      const metric = this.#metrics.get(delta.name);
      if (!metric) {
        if (delta.name === 'gatehouse_metrics_series_overflow_total') this.#dropped += delta.value;
        continue;
      }
      const values = metric.definition.labels.map((name) => delta.labels[name] ?? '');
      const series = this.#seriesOf(metric, values);
      if (delta.kind === 'gauge') {
        if (series.count === 0) series.value = delta.value;
        series.count += delta.count;
        continue;
      }
      series.value += delta.value;
      series.count += delta.count;
      if (series.counts && delta.counts) {
        for (let i = 0; i < series.counts.length; i++) series.counts[i]! += delta.counts[i] ?? 0;
      }
    }
  }

  #define(definition: MetricDefinition, kind: MetricKind): Metric {
    if (definition.kind !== kind) {
      throw new TypeError(`metric ${definition.name} is a ${definition.kind}, not a ${kind}`);
    }
    const existing = this.#metrics.get(definition.name);
    if (existing) {
      if (!sameDefinition(existing.definition, definition)) {
        throw new TypeError(`metric ${definition.name} is already defined differently`);
      }
      return existing;
    }
    if (!NAME.test(definition.name)) throw new TypeError(`bad metric name: ${definition.name}`);
    for (const label of definition.labels) {
      if (!LABEL.test(label) || label.startsWith('__') || label === 'le') {
        throw new TypeError(`bad label name for ${definition.name}: ${label}`);
      }
    }
    let bounds: number[] | null = null;
    if (kind === 'histogram') {
      bounds = [...(definition.buckets ?? [])];
      if (
        bounds.length === 0 ||
        bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= bounds![i - 1]!))
      ) {
        throw new TypeError(`histogram ${definition.name} needs finite, increasing buckets`);
      }
    }
    const metric = new Metric(definition, bounds);
    this.#metrics.set(definition.name, metric);
    return metric;
  }

  #series(metric: Metric, labels: Readonly<Record<string, string | number>>): Series {
    const names = metric.definition.labels;
    let key = '';
    for (let i = 0; i < names.length; i++) {
      const raw = labels[names[i]!];
      const value = typeof raw === 'string' ? raw : raw === undefined ? '' : String(raw);
      key = i === 0 ? value : key + SEPARATOR + value;
    }
    const found = metric.series.get(key);
    if (found) return found;
    const values = names.map((name) => {
      const raw = labels[name];
      const value = raw === undefined ? '' : String(raw);
      return value.length > this.#maxLabel ? value.slice(0, this.#maxLabel) : value;
    });
    if (metric.series.size >= this.#maxSeries) {
      metric.overflowed += 1;
      return this.#seriesOf(metric, names.map(() => OVERFLOW_LABEL));
    }
    return this.#seriesOf(metric, values, key);
  }

  #seriesOf(metric: Metric, values: readonly string[], key = values.join(SEPARATOR)): Series {
    let series = metric.series.get(key);
    if (!series) {
      series = {
        values,
        value: 0,
        count: 0,
        counts: metric.bounds ? new Array<number>(metric.bounds.length + 1).fill(0) : null,
      };
      metric.series.set(key, series);
    }
    return series;
  }
}

function sameDefinition(a: MetricDefinition, b: MetricDefinition): boolean {
  return a.kind === b.kind && a.help === b.help &&
    a.labels.length === b.labels.length && a.labels.every((label, i) => label === b.labels[i]) &&
    (a.buckets ?? []).join() === (b.buckets ?? []).join();
}

export function createMetrics(options?: MetricsOptions): Metrics {
  return new Metrics(options);
}
