import type uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from '../shared/dom.ts';

/**
 * uPlot, loaded apart from the console's first script: its download and compile overlap
 * the first data requests instead of delaying them.
 */
let library: Promise<typeof uPlot> | undefined;
const loadUPlot = () => library ??= import('uplot').then((module) => module.default);

/** The performance mark set when the first chart with data is drawn. */
export const FIRST_CHART = 'gatehouse:first-chart';

/** Distinct colours that keep 3:1 against white, in the order series take them. */
const COLOURS = ['#1d4ed8', '#b45309', '#047857', '#b91c1c', '#6d28d9', '#0e7490', '#be185d'];

export interface Line {
  readonly label: string;
  /** One value per x; null where there is no point. */
  readonly values: readonly (number | null)[];
}

export interface ChartData {
  /** Unix seconds. */
  readonly xs: readonly number[];
  readonly lines: readonly Line[];
}

/**
 * A line chart (uPlot) that fills its container's width and follows it when it resizes.
 * The figure carries a text summary for screen readers: each line's latest and highest
 * value in the range.
 */
export class Chart {
  readonly element: HTMLElement;
  private plot: uPlot | null = null;
  private readonly body: HTMLElement;
  private readonly summary: HTMLElement;
  private readonly resize: ResizeObserver;
  private shape = '';
  private generation = 0;

  constructor(readonly title: string, private readonly unit: string) {
    void loadUPlot();
    this.body = h('div', { class: 'chart-body' });
    this.summary = h('p', { class: 'visually-hidden' });
    this.element = h(
      'figure',
      { class: 'chart', role: 'group', 'aria-label': title },
      h('figcaption', null, title, h('span', { class: 'unit' }, ` (${unit})`)),
      this.body,
      this.summary,
    );
    this.resize = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize(this.size());
    });
    this.resize.observe(this.body);
  }

  private size() {
    return { width: Math.max(240, this.body.clientWidth), height: 180 };
  }

  /** Draws `data`; the same lines again only update the points, keeping the zoom. */
  async set(data: ChartData, minPoints = 1): Promise<void> {
    const points = data.lines.some((line) => line.values.some((value) => value !== null))
      ? data.xs.length
      : 0;
    if (points < minPoints) data = { xs: [], lines: [] };
    const shape = data.lines.map((line) => line.label).join('\0');
    const aligned = [data.xs, ...data.lines.map((line) => line.values)] as uPlot.AlignedData;
    this.summary.textContent = data.lines.length === 0
      ? 'No data in this range.'
      : data.lines.map((line) => {
        const values = line.values.filter((value): value is number => value !== null);
        if (values.length === 0) return `${line.label}: no data`;
        const last = values[values.length - 1]!;
        const highest = Math.max(...values);
        return `${line.label}: latest ${round(last)} ${this.unit}, highest ${
          round(highest)
        } ${this.unit}`;
      }).join('; ');
    // Set once the chart shows `data`: tests and the benchmark wait for them.
    const drawn = () => {
      this.element.dataset.points = String(data.xs.length);
      this.element.dataset.lines = data.lines.map((line) => line.label).join(',');
    };
    if (this.plot && shape === this.shape) {
      this.plot.setData(aligned);
      return drawn();
    }
    this.plot?.destroy();
    this.shape = shape;
    const generation = ++this.generation;
    this.body.replaceChildren();
    if (data.lines.length === 0) {
      this.body.append(h('p', { class: 'state empty' }, 'No data in this range yet.'));
      this.plot = null;
      return drawn();
    }
    const UPlot = await loadUPlot();
    if (this.generation !== generation) return; // a later set() took over while uPlot loaded
    // For the console benchmark: how long after navigation the first chart had data.
    if (performance.getEntriesByName(FIRST_CHART).length === 0) performance.mark(FIRST_CHART);
    this.plot = new UPlot(
      {
        ...this.size(),
        series: [
          {},
          ...data.lines.map((line, i) => ({
            label: line.label,
            stroke: COLOURS[i % COLOURS.length],
            width: 1.5,
            spanGaps: false,
            // A line of one or two points draws nothing: show them as dots.
            points: { show: line.values.filter((value) => value !== null).length < 3, size: 6 },
            value: (_: uPlot, value: number | null) => value === null ? '—' : `${round(value)}`,
          })),
        ],
        axes: [{}, { size: 56, values: (_: uPlot, ticks: number[]) => ticks.map(round) }],
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
      },
      aligned,
      this.body,
    );
    drawn();
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot?.destroy();
  }
}

function round(value: number): string {
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString(undefined, { maximumFractionDigits: digits });
}

/** The API's series: one per label set, each a list of points at `t`. */
export interface SeriesAnswer {
  readonly kind: 'counter' | 'gauge' | 'histogram' | null;
  readonly step: number;
  readonly series: readonly {
    readonly labels: Readonly<Record<string, string>>;
    readonly points: readonly {
      t: string;
      value: number | null;
      p50?: number | null;
      p99?: number | null;
    }[];
  }[];
}

/** The answer's x axis (every step of the range; the API fills quiet steps). */
export function stepsOf(answer: SeriesAnswer): number[] {
  return (answer.series[0]?.points ?? []).map((point) => Date.parse(point.t) / 1000);
}
