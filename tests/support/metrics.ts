/**
 * Reading `GET /metrics` as a scraper does: the metrics function of a runtime, its answer
 * parsed by a real Prometheus text parser, and the numbers of one series picked out.
 */
import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';
import { expect } from 'vitest';
import type { Runtime } from '../../functions/_shared/runtime/index.ts';
import { createMetricsFunction } from '../../functions/metrics/index.ts';

/** GET /metrics with `token`, parsed; the parser merges a histogram's labelled series, so the text too. */
export async function scrapeText(
  runtime: Runtime,
  token: string,
): Promise<{ families: PrometheusFamily[]; text: string }> {
  const res = await createMetricsFunction(runtime).request('/metrics', {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  return { families: parsePrometheusTextFormat(text) as PrometheusFamily[], text };
}

/** GET /metrics with `token`, parsed into families. */
export async function scrape(runtime: Runtime, token: string): Promise<PrometheusFamily[]> {
  return (await scrapeText(runtime, token)).families;
}

/**
 * The numbers of the histogram series of `name` whose labels include `labels`, from the
 * exposition text: `_count`, `_sum` and the cumulative `_bucket` lines by `le`.
 */
export function histogram(text: string, name: string, labels: Record<string, string>) {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  const lines = text.split('\n').filter((line) =>
    line.startsWith(name) && wanted.every((pair) => line.includes(pair))
  );
  const number = (line: string) => Number(line.slice(line.lastIndexOf(' ') + 1));
  const buckets = lines.filter((line) => line.startsWith(`${name}_bucket{`)).map((line) => ({
    le: /le="([^"]+)"/.exec(line)![1],
    value: number(line),
  }));
  return {
    buckets,
    count: number(lines.find((line) => line.startsWith(`${name}_count{`))!),
    sum: number(lines.find((line) => line.startsWith(`${name}_sum{`))!),
  };
}

/** The value of the series of `name` whose labels include `labels` (0 when absent). */
export function valueOf(
  families: PrometheusFamily[],
  name: string,
  labels: Record<string, string>,
): number {
  const family = families.find((f) => f.name === name);
  const sample = family?.metrics.find((m) =>
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
  );
  return sample ? Number(sample.value ?? sample.count) : 0;
}
