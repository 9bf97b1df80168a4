import { h, mount, num, when } from '../shared/dom.ts';
import { Chart, type ChartData, type SeriesAnswer, stepsOf } from './charts.ts';
import { type ConsoleContext, every, type Page } from './context.ts';
import { badge, failure, loading, pageHead } from './ui.ts';

interface SloWindow {
  events: number;
  bad: number;
  sli: number | null;
  burn_rate: number | null;
}
interface Slo {
  key: string;
  description: string;
  objective: number;
  status: string;
  budget_remaining: number | null;
  windows: Record<'5m' | '1h' | '30d', SloWindow>;
}
interface QueueDetail {
  totals: { depth: number; scheduled: number; running: number; dead: number };
  queues: { queue: string; depth: number; oldestDueMs: number }[];
}
export interface Overview {
  status: 'ok' | 'degraded' | 'down';
  time: string;
  checks: Record<string, { status: string; reason?: unknown }>;
  rates: Record<string, number>;
  queue: QueueDetail | null;
  slos?: { status: string; slos?: Slo[] };
}

/** The ranges the charts offer, each with a step that keeps it within the API's 1,440 points. */
const RANGES = [
  { key: '1h', label: '1 hour', seconds: 3_600, step: 60 },
  { key: '24h', label: '24 hours', seconds: 86_400, step: 300 },
  { key: '7d', label: '7 days', seconds: 604_800, step: 3_600 },
  { key: '30d', label: '30 days', seconds: 2_592_000, step: 21_600 },
] as const;

const pct = (value: number | null | undefined, digits = 2) =>
  value === null || value === undefined ? '—' : `${num(value * 100, digits)} %`;

function sloTile(slo: Slo): HTMLElement {
  const budget = slo.budget_remaining;
  return h(
    'section',
    { class: `tile slo slo-${slo.status}`, 'aria-labelledby': `slo-${slo.key}` },
    h('h3', { id: `slo-${slo.key}` }, slo.key.replace('_', ' ')),
    badge(slo.status),
    h('p', { class: 'big' }, pct(slo.windows['30d'].sli, 3)),
    h('p', null, `objective ${pct(slo.objective, 2)} over 30 days`),
    h(
      'p',
      null,
      'error budget left ',
      h('strong', null, budget === null ? '—' : pct(budget, 0)),
    ),
    h(
      'meter',
      {
        min: 0,
        max: 1,
        low: 0.25,
        optimum: 1,
        value: Math.max(0, Math.min(1, budget ?? 0)),
        'aria-label': `${slo.key} error budget left`,
      },
    ),
    h(
      'p',
      { class: 'small' },
      `burn rate 1 h ${num(slo.windows['1h'].burn_rate)}, 5 min ${
        num(slo.windows['5m'].burn_rate)
      }`,
    ),
    h('p', { class: 'small' }, slo.description),
  );
}

function statusSection(overview: Overview): HTMLElement {
  const rates = overview.rates;
  const tiles: [string, string][] = [
    ['requests', `${num(rates.http_requests)} /s`],
    ['5xx answers', `${num(rates.http_server_errors)} /s`],
    ['deliveries', `${num(rates.webhook_deliveries)} /s`],
    ['events stored', `${num(rates.webhook_events_accepted)} /s`],
    ['refused', `${num(rates.webhook_rejected)} /s`],
    ['jobs done', `${num(rates.jobs_succeeded)} /s`],
    ['jobs dead', `${num(rates.jobs_dead)} /s`],
    ['queue depth', num(overview.queue?.totals.depth ?? null, 0)],
    ['dead letters', num(overview.queue?.totals.dead ?? null, 0)],
  ];
  const slos = overview.slos?.slos ?? [];
  return h(
    'div',
    null,
    h(
      'p',
      { class: 'status-line' },
      'Status ',
      badge(overview.status),
      ' checks: ',
      Object.entries(overview.checks).map(([name, check]) =>
        h(
          'span',
          { class: 'check' },
          `${name} `,
          badge(check.status),
          // Why a check is not ok, when it says (a provider failing its signature, a busy pool).
          check.status !== 'ok' && typeof check.reason === 'string' ? ` ${check.reason}` : null,
        )
      ),
      h('span', { class: 'small' }, ` as of ${when(overview.time)}`),
    ),
    h('h2', null, 'Last 5 minutes'),
    h(
      'dl',
      { class: 'tiles rates' },
      tiles.map(([label, value]) =>
        h('div', { class: 'tile' }, h('dt', null, label), h('dd', null, value))
      ),
    ),
    h('h2', null, 'Service level objectives'),
    slos.length
      ? h('div', { class: 'tiles' }, slos.map(sloTile))
      : h('p', { class: 'state empty' }, 'The SLOs are not available on this function.'),
  );
}

type Range = (typeof RANGES)[number];

/**
 * The three charts' loaders over one range: each resolves with its chart's axis and lines
 * as soon as its own requests answer, so the first chart is drawn without waiting for the
 * slowest.
 */
function chartLoaders(
  ctx: ConsoleContext,
  range: Range,
  until: number,
): (() => Promise<ChartData>)[] {
  const since = new Date((until - range.seconds) * 1000).toISOString();
  const to = new Date(until * 1000).toISOString();
  const get = (name: string, extra: Record<string, string>) =>
    ctx.admin<SeriesAnswer>(
      `/metrics/series?${new URLSearchParams({
        name,
        since,
        until: to,
        step: String(range.step),
        ...extra,
      })}`,
    );
  const perSecond = (value: number | null) => value === null ? 0 : value / range.step;
  return [
    async () => {
      const intake = await get('gatehouse_webhook_requests_total', { group_by: 'provider' });
      return {
        xs: stepsOf(intake),
        lines: intake.series.map((series) => ({
          label: series.labels.provider ?? 'all',
          values: series.points.map((point) => perSecond(point.value)),
        })),
      };
    },
    async () => {
      const latency = await get('gatehouse_http_request_duration_seconds', {
        label: 'function=webhooks',
      });
      const points = latency.series[0]?.points ?? [];
      return {
        xs: stepsOf(latency),
        lines: points.length
          ? [
            { label: 'p50', values: points.map((point) => ms(point.p50)) },
            { label: 'p99', values: points.map((point) => ms(point.p99)) },
          ]
          : [],
      };
    },
    async () => {
      const [rejected, dead, statuses] = await Promise.all([
        get('gatehouse_webhook_rejected_total', {}),
        get('gatehouse_jobs_total', { label: 'outcome=dead' }),
        get('gatehouse_http_requests_total', { group_by: 'status' }),
      ]);
      const xs = [rejected, dead, statuses].map(stepsOf).find((x) => x.length) ?? [];
      const total = (answer: SeriesAnswer) =>
        answer.series[0]!.points.map((point) => perSecond(point.value));
      const fivexx = xs.map((_, i) =>
        statuses.series.filter((series) => (series.labels.status ?? '').startsWith('5'))
          .reduce((sum, series) => sum + perSecond(series.points[i]?.value ?? null), 0)
      );
      return {
        xs,
        lines: [
          ...(rejected.series.length ? [{ label: 'refused', values: total(rejected) }] : []),
          ...(dead.series.length ? [{ label: 'jobs dead', values: total(dead) }] : []),
          ...(statuses.series.length ? [{ label: '5xx', values: fivexx }] : []),
        ],
      };
    },
    async () => {
      // Sampled once a minute by the alert evaluation; without a label, all queues together.
      const [depth, oldest] = await Promise.all([
        get('gatehouse_queue_depth', {}),
        get('gatehouse_queue_oldest_due_seconds', {}),
      ]);
      const xs = [depth, oldest].map(stepsOf).find((x) => x.length) ?? [];
      const line = (answer: SeriesAnswer) => answer.series[0]?.points.map((point) => point.value);
      const depths = line(depth);
      const ages = line(oldest);
      return {
        xs,
        lines: [
          ...(depths ? [{ label: 'due jobs', values: depths }] : []),
          ...(ages ? [{ label: 'oldest due s', values: ages }] : []),
        ],
      };
    },
  ];
}

const ms = (seconds: number | null | undefined) =>
  seconds === null || seconds === undefined ? null : seconds * 1000;

/**
 * The front page: status and checks, the last minutes' rates, the SLO tiles, charts of
 * intake by provider, latency, errors and the queue (due jobs and the oldest one's age, as
 * sampled once a minute), over a chosen range, refreshed every 10 s.
 */
export const overviewPage: Page = (ctx, main, params) => {
  // `#/overview/30d` opens on a range; choosing one keeps it in the address.
  const initial = Math.max(0, RANGES.findIndex((range) => range.key === params[0]));
  const statusRegion = h(
    'section',
    { 'aria-label': 'Status', class: 'region' },
    loading('the status'),
  );
  const rangeSelect = h(
    'select',
    {
      id: 'range',
      onchange: () => {
        history.replaceState(null, '', `#/overview/${RANGES[Number(rangeSelect.value)]!.key}`);
        void drawCharts(false);
      },
    },
    RANGES.map((range, i) =>
      h('option', { value: String(i), selected: i === initial }, range.label)
    ),
  );
  const chartError = h('div');
  const charts = [
    new Chart('Intake by provider', 'deliveries/s'),
    new Chart('Intake latency', 'ms'),
    new Chart('Errors', 'per s'),
    new Chart('Queue', 'jobs, seconds'),
  ];
  mount(
    main,
    pageHead('Overview'),
    statusRegion,
    h(
      'section',
      { class: 'region', 'aria-labelledby': 'charts-title' },
      h(
        'div',
        { class: 'page-head' },
        h('h2', { id: 'charts-title' }, 'Charts'),
        h('label', { for: 'range' }, 'Range '),
        rangeSelect,
      ),
      chartError,
      h('div', { class: 'charts' }, charts.map((chart) => chart.element)),
    ),
  );

  const drawStatus = async () => {
    try {
      const overview = await ctx.admin<Overview>('/overview');
      mount(statusRegion, statusSection(overview));
      const badgeEl = document.getElementById('platform-status');
      if (badgeEl) {
        badgeEl.textContent = overview.status;
        badgeEl.className = `badge badge-${overview.status}`;
      }
    } catch (error) {
      mount(statusRegion, failure(error, () => void drawStatus()));
      const badgeEl = document.getElementById('platform-status');
      if (badgeEl) {
        badgeEl.textContent = 'unreachable';
        badgeEl.className = 'badge badge-down';
      }
    }
  };
  const drawCharts = async (quiet: boolean) => {
    const range = RANGES[Number(rangeSelect.value)] ?? RANGES[0];
    if (!quiet) main.setAttribute('aria-busy', 'true');
    const loaders = chartLoaders(ctx, range, Math.ceil(Date.now() / 1000));
    const outcomes = await Promise.allSettled(
      loaders.map(async (loader, i) => charts[i]!.set(await loader())),
    );
    main.removeAttribute('aria-busy');
    const failed = outcomes.find((outcome) => outcome.status === 'rejected');
    mount(
      chartError,
      failed ? failure(failed.reason, () => void drawCharts(false)) : null,
    );
  };
  void drawStatus();
  void drawCharts(false);
  const stopStatus = every(5_000, drawStatus);
  const stopCharts = every(10_000, () => drawCharts(true));
  return () => {
    stopStatus();
    stopCharts();
    for (const chart of charts) chart.destroy();
  };
};
