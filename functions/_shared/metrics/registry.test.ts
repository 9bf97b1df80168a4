import { describe, expect, it } from 'vitest';
import { renderExposition } from './exposition.ts';
import { createMetrics, OVERFLOW_LABEL } from './registry.ts';
import { mergeDeltas } from './store.ts';

const counterDef = {
  name: 'test_total',
  help: 'Test.',
  kind: 'counter',
  labels: ['provider'],
} as const;
const histogramDef = {
  name: 'test_seconds',
  help: 'Time.',
  kind: 'histogram',
  labels: ['route'],
  buckets: [0.1, 1],
} as const;

describe('Metrics', () => {
  it('counts by label set and hands each delta over once', () => {
    const metrics = createMetrics();
    const counter = metrics.counter(counterDef);
    counter.inc({ provider: 'stripe' });
    counter.inc({ provider: 'stripe' }, 2);
    counter.inc({ provider: 'paypal' });
    counter.inc({ provider: 'paypal' }, -5); // a counter never goes down
    const first = metrics.drain();
    expect(first.map((d) => [d.labels.provider, d.value])).toEqual([['stripe', 3], ['paypal', 1]]);
    expect(metrics.drain()).toEqual([]);
  });

  it('buckets observations: each at the first bound it does not exceed, the rest above all', () => {
    const metrics = createMetrics();
    const histogram = metrics.histogram(histogramDef);
    for (const value of [0.05, 0.1, 0.5, 3, Number.NaN]) histogram.observe({ route: '/a' }, value);
    const [delta] = metrics.drain();
    expect(delta).toMatchObject({ count: 4, counts: [2, 1, 1], bounds: [0.1, 1] });
    expect(delta!.value).toBeCloseTo(3.65);
  });

  it('caps the label sets of a metric: the rest go to one _other series, counted', () => {
    const metrics = createMetrics({ maxSeriesPerMetric: 2 });
    const counter = metrics.counter(counterDef);
    for (const provider of ['a', 'b', 'c', 'd', 'a']) counter.inc({ provider });
    const deltas = metrics.drain();
    expect(deltas.map((d) => [d.name, d.labels.provider ?? null, d.value])).toEqual([
      ['test_total', 'a', 2],
      ['test_total', 'b', 1],
      ['test_total', OVERFLOW_LABEL, 2],
      ['gatehouse_metrics_series_overflow_total', null, 2],
    ]);
  });

  it('gives back what a failed flush could not write', () => {
    const metrics = createMetrics();
    const counter = metrics.counter(counterDef);
    const histogram = metrics.histogram(histogramDef);
    counter.inc({ provider: 'x' }, 2);
    histogram.observe({ route: '/a' }, 0.5);
    const failed = metrics.drain();
    counter.inc({ provider: 'x' });
    histogram.observe({ route: '/a' }, 0.01);
    metrics.restore(failed);
    const again = metrics.drain();
    expect(again.find((d) => d.name === 'test_total')!.value).toBe(3);
    expect(again.find((d) => d.name === 'test_seconds')).toMatchObject({
      count: 2,
      counts: [1, 1, 0],
    });
  });

  it('a bound series counts into the same series as inc, and finds it again after a drain', () => {
    const metrics = createMetrics();
    const counter = metrics.counter(counterDef);
    const stripe = counter.bind({ provider: 'stripe' });
    stripe.inc();
    counter.inc({ provider: 'stripe' });
    stripe.inc(-1); // a counter never goes down
    expect(metrics.drain().map((d) => [d.labels.provider, d.value])).toEqual([['stripe', 2]]);
    stripe.inc(3);
    expect(metrics.drain().map((d) => [d.labels.provider, d.value])).toEqual([['stripe', 3]]);
    expect(metrics.drain()).toEqual([]);
  });

  it('setMax keeps the highest value set since the last drain', () => {
    const metrics = createMetrics();
    const gauge = metrics.gauge({ name: 'test_ratio', help: 'R.', kind: 'gauge', labels: ['p'] });
    for (const value of [0.5, 1, 0.25, Number.NaN]) gauge.setMax({ p: 'a' }, value);
    expect(metrics.drain().map((d) => d.value)).toEqual([1]);
    gauge.setMax({ p: 'a' }, 0.25);
    expect(metrics.drain().map((d) => d.value)).toEqual([0.25]);
  });

  it('refuses bad names and a second, different definition of a name', () => {
    const metrics = createMetrics();
    expect(() => metrics.counter({ ...counterDef, name: 'bad name' })).toThrow(TypeError);
    expect(() => metrics.counter({ ...counterDef, labels: ['le'] })).toThrow(TypeError);
    expect(() => metrics.histogram({ ...histogramDef, buckets: [1, 0.5] })).toThrow(TypeError);
    metrics.counter(counterDef);
    expect(() => metrics.counter({ ...counterDef, help: 'Other.' })).toThrow(TypeError);
  });

  it('merges deltas of one series (label values cut to the same text) before a write', () => {
    const metrics = createMetrics({ maxLabelLength: 3 });
    const counter = metrics.counter(counterDef);
    counter.inc({ provider: 'abcdef' });
    counter.inc({ provider: 'abcxyz' });
    expect(mergeDeltas(metrics.drain()).map((d) => [d.labels.provider, d.value])).toEqual([
      ['abc', 2],
    ]);
  });
});

describe('renderExposition', () => {
  it('writes HELP and TYPE, escapes label values, and cumulative histogram buckets', () => {
    const text = renderExposition([
      {
        name: 'test_total',
        kind: 'counter',
        labels: { provider: 'a"b\\c\nd' },
        value: 3,
        count: 0,
        bounds: null,
        counts: null,
      },
      {
        name: 'test_seconds',
        kind: 'histogram',
        labels: { route: '/a' },
        value: 1.5,
        count: 4,
        bounds: [0.1, 1],
        counts: [2, 1, 1],
      },
    ], [counterDef, histogramDef]);
    expect(text).toBe(
      [
        '# HELP test_seconds Time.',
        '# TYPE test_seconds histogram',
        'test_seconds_bucket{route="/a",le="0.1"} 2',
        'test_seconds_bucket{route="/a",le="1"} 3',
        'test_seconds_bucket{route="/a",le="+Inf"} 4',
        'test_seconds_sum{route="/a"} 1.5',
        'test_seconds_count{route="/a"} 4',
        '# HELP test_total Test.',
        '# TYPE test_total counter',
        'test_total{provider="a\\"b\\\\c\\nd"} 3',
        '',
      ].join('\n'),
    );
  });
});
