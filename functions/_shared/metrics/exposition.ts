import type { Db } from '../db/types.ts';
import type { MetricDefinition, MetricKind, SeriesDelta } from './registry.ts';

/** One series as aggregated over every instance and every bucket (fields as a delta's). */
export type AggregatedSeries = SeriesDelta;

/** How recent a gauge's last report must be to be shown (older: the reporter is gone). */
export const GAUGE_FRESHNESS_MS = 5 * 60_000;

/**
 * Every series in `system_metrics`, across instances: counters and histograms from their
 * total rows (so they never decrease), gauges from their latest minute within
 * {@link GAUGE_FRESHNESS_MS} (the highest value any instance reported in it).
 */
export async function readAggregated(
  db: Db,
  options: { timeoutMs?: number } = {},
): Promise<AggregatedSeries[]> {
  const rows = await db.query<{
    name: string;
    kind: MetricKind;
    labels: Record<string, string>;
    value: number;
    count: string | number;
    bounds: number[] | null;
    counts: (string | number)[] | null;
  }>(
    `select name, kind, labels, value, count, bounds, counts
       from public.system_metrics
      where width = interval '0'
     union all
     select * from (
       select distinct on (name, labels) name, kind, labels, value, count, bounds, counts
         from public.system_metrics
        where kind = 'gauge' and bucket > pg_catalog.now() - $1::interval
        order by name, labels, bucket desc
     ) gauges
     order by name, labels`,
    [`${GAUGE_FRESHNESS_MS / 1000} seconds`],
    options.timeoutMs === undefined ? undefined : { timeoutMs: options.timeoutMs },
  );
  return rows.map((row) => ({
    name: row.name,
    kind: row.kind,
    labels: row.labels,
    value: Number(row.value),
    count: Number(row.count),
    bounds: row.bounds ? row.bounds.map(Number) : null,
    counts: row.counts ? row.counts.map(Number) : null,
  }));
}

/**
 * Prometheus text exposition (format 0.0.4): `# HELP` and `# TYPE` once per metric, then its
 * series; a histogram as cumulative `_bucket{le="..."}` lines ending in `le="+Inf"`, then
 * `_sum` and `_count`. Help comes from `definitions` (a metric only another version
 * defines gets a generic line).
 */
export function renderExposition(
  series: readonly AggregatedSeries[],
  definitions: readonly Pick<MetricDefinition, 'name' | 'help'>[],
): string {
  const help = new Map(definitions.map((d) => [d.name, d.help]));
  const byName = new Map<string, AggregatedSeries[]>();
  for (const s of series) {
    const list = byName.get(s.name);
    if (list) list.push(s);
    else byName.set(s.name, [s]);
  }
  const lines: string[] = [];
  for (const name of [...byName.keys()].sort()) {
    const list = byName.get(name)!;
    const kind = list[0]!.kind;
    lines.push(`# HELP ${name} ${escapeHelp(help.get(name) ?? 'Recorded by Gatehouse.')}`);
    lines.push(`# TYPE ${name} ${kind}`);
    for (const s of list) {
      if (s.kind !== kind) continue; // one name, one type
      if (kind !== 'histogram') {
        lines.push(`${name}${labelText(s.labels)} ${number(s.value)}`);
        continue;
      }
      const bounds = s.bounds ?? [];
      const counts = s.counts ?? [];
      let cumulative = 0;
      bounds.forEach((bound, i) => {
        cumulative += counts[i] ?? 0;
        lines.push(`${name}_bucket${labelText(s.labels, number(bound))} ${cumulative}`);
      });
      lines.push(`${name}_bucket${labelText(s.labels, '+Inf')} ${s.count}`);
      lines.push(`${name}_sum${labelText(s.labels)} ${number(s.value)}`);
      lines.push(`${name}_count${labelText(s.labels)} ${s.count}`);
    }
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}

function labelText(labels: Readonly<Record<string, string>>, le?: string): string {
  const parts = Object.keys(labels).sort().map((k) => `${k}="${escapeLabel(labels[k]!)}"`);
  if (le !== undefined) parts.push(`le="${le}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function number(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
