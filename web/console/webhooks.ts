import { DELIVERY_OUTCOMES, ENDPOINT_STATUSES } from '../../functions/_shared/outbound/statuses.ts';
import { h, mount, num, when } from '../shared/dom.ts';
import { type ConsoleContext, type Page } from './context.ts';
import { filterForm, type Listing, pager } from './listing.ts';
import { fieldErrors } from '../shared/api.ts';
import { ago, announce, badge, confirmAction, describe, load, pageHead, table } from './ui.ts';

interface Endpoint {
  id: string;
  url: string;
  description: string;
  event_types: string[];
  status: string;
  status_reason: string | null;
  failing_since: string | null;
  version: number;
}
interface Health {
  status: string;
  breaker: string;
  backlog: Record<string, number>;
  oldest_backlog_ms: number | null;
  window_hours: number;
  attempts: number;
  success_rate: number | null;
  latency_ms: { p50: number | null; p99: number | null };
  last_error: string | null;
  last_attempt_at: string | null;
}
interface Delivery {
  id: number;
  message_id: number;
  event_type: string;
  attempt: number;
  outcome: string;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  created_at: string;
}

const REPLAY_RANGES = [
  { label: 'the last hour', ms: 3_600_000 },
  { label: 'the last 24 hours', ms: 86_400_000 },
  { label: 'the last 7 days', ms: 604_800_000 },
] as const;

/** A secret shown once, in a box the reader can select and copy, with a warning. */
function secretNotice(secret: string, what: string): HTMLElement {
  return h(
    'div',
    { class: 'secret', role: 'alert' },
    h('p', null, `${what} It is shown this once: store it where the receiver reads it.`),
    h('code', { tabindex: '0' }, secret),
  );
}

function endpointDetail(ctx: ConsoleContext, main: HTMLElement, id: string): void {
  const path = `/webhooks/endpoints/${encodeURIComponent(id)}`;
  const health = h('section', { class: 'region', 'aria-labelledby': 'health-title' });
  const notice = h('div');
  const deliveries = h('div');
  const writable = ctx.can('webhooks:write');
  const act = async (question: string, body: string, label: string, run: () => Promise<string>) => {
    if (!(await confirmAction(question, body, label))) return;
    try {
      announce(await run());
      void drawHealth();
      void pager(ctx, listing, deliveries);
    } catch (error) {
      announce(`Not done: ${describe(error)}`, 'error');
    }
  };
  const replayRange = h(
    'select',
    { id: 'replay-range' },
    REPLAY_RANGES.map((range, i) => h('option', { value: String(i) }, range.label)),
  );
  const actions = writable
    ? h(
      'div',
      { class: 'actions' },
      h('button', {
        type: 'button',
        onclick: () =>
          act(
            'Send a test event?',
            'A webhook.test event goes to this endpoint alone.',
            'Send',
            async () => {
              const sent = await ctx.admin<{ message_id: number; status: string }>(`${path}/test`, {
                method: 'POST',
              });
              return `Test event queued as message ${sent.message_id} (${sent.status}).`;
            },
          ),
      }, 'Send test event'),
      h('button', {
        type: 'button',
        onclick: () =>
          act(
            'Rotate the signing secret?',
            'A new secret signs from now on; the current ones keep signing for the overlap (24 h by default).',
            'Rotate',
            async () => {
              const rotated = await ctx.admin<
                { secret: string; previous_secrets_expire_at: string }
              >(
                `${path}/rotate-secret`,
                { method: 'POST' },
              );
              mount(notice, secretNotice(rotated.secret, 'The new signing secret.'));
              return `Secret rotated; the previous ones sign until ${
                when(rotated.previous_secrets_expire_at)
              }.`;
            },
          ),
      }, 'Rotate secret'),
      h('label', { for: 'replay-range' }, 'Replay failed deliveries of '),
      replayRange,
      h('button', {
        type: 'button',
        onclick: () => {
          const range = REPLAY_RANGES[Number(replayRange.value)] ?? REPLAY_RANGES[0];
          return act(
            `Replay ${range.label}?`,
            `Failed messages of events emitted in ${range.label} go back to pending, attempts reset.`,
            'Replay',
            async () => {
              const answer = await ctx.admin<{ replayed: number }>(`${path}/replay`, {
                method: 'POST',
                body: { since: ago(range.ms) },
              });
              return `Replayed ${answer.replayed} message(s).`;
            },
          );
        },
      }, 'Replay'),
    )
    : h('p', { class: 'note' }, 'Your role can look at endpoints, not change them.');
  const drawHealth = () =>
    load(health, 'the endpoint', async () => {
      const [endpoint, report] = await Promise.all([
        ctx.admin<Endpoint>(path),
        ctx.admin<Health>(`${path}/health`),
      ]);
      return { endpoint, report };
    }, ({ endpoint, report }) => [
      h('h2', { id: 'health-title' }, 'Health'),
      h(
        'dl',
        { class: 'facts' },
        [
          ['url', endpoint.url],
          ['status', [
            badge(endpoint.status),
            endpoint.status_reason ? ` ${endpoint.status_reason}` : '',
          ]],
          ['events', endpoint.event_types.join(', ')],
          ['breaker', badge(report.breaker)],
          [`attempts (${report.window_hours} h)`, num(report.attempts, 0)],
          [
            'success rate',
            report.success_rate === null ? '—' : `${num(report.success_rate * 100, 1)} %`,
          ],
          [
            'latency p50 / p99',
            `${num(report.latency_ms.p50, 0)} / ${num(report.latency_ms.p99, 0)} ms`,
          ],
          [
            'backlog',
            Object.entries(report.backlog).map(([k, v]) => `${k} ${v}`).join(', ') || 'none',
          ],
          ['failing since', when(endpoint.failing_since)],
          ['last error', report.last_error ?? '—'],
        ].map(([term, value]) => h('div', null, h('dt', null, term), h('dd', null, value))),
      ),
    ]);
  const listing: Listing<Delivery> = {
    what: 'deliveries',
    path: `${path}/deliveries`,
    filters: [{ name: 'outcome', label: 'Outcome', options: ['', ...DELIVERY_OUTCOMES] }],
    render: (items) =>
      table(
        'Delivery attempts',
        ['when', 'event', 'attempt', 'outcome', 'status', 'ms', 'error'],
        items.map((d) => [
          when(d.created_at),
          d.event_type,
          String(d.attempt),
          badge(d.outcome),
          d.status_code === null ? '—' : String(d.status_code),
          String(d.duration_ms),
          d.error ?? '',
        ]),
      ),
    empty: 'No delivery attempts yet.',
  };
  mount(
    main,
    pageHead('Outbound endpoint', h('a', { href: '#/webhooks' }, 'All endpoints')),
    actions,
    notice,
    health,
    h('h2', null, 'Deliveries'),
    filterForm(listing, () => void pager(ctx, listing, deliveries)),
    deliveries,
  );
  void drawHealth();
  void pager(ctx, listing, deliveries);
}

/** What a refused form says, field by field when the API names them (problem+json `errors`). */
function refusal(error: unknown): string[] {
  const fields = fieldErrors(error);
  if (fields.length === 0) return [describe(error)];
  return fields.map((field) => (field.path ? `${field.path}: ${field.message}` : field.message));
}

/**
 * The form that creates an endpoint (`POST /webhooks/endpoints`): its URL, the event types
 * it subscribes to, a description. The new signing secret is shown once, below the form.
 */
function createForm(ctx: ConsoleContext, created: () => void): HTMLElement {
  const url = h('input', {
    id: 'new-endpoint-url',
    name: 'url',
    type: 'url',
    required: true,
    autocomplete: 'off',
    placeholder: 'https://erp.example.com/hooks/gatehouse',
  });
  const events = h('input', {
    id: 'new-endpoint-events',
    name: 'event_types',
    required: true,
    autocomplete: 'off',
    defaultValue: '*',
  });
  const description = h('input', {
    id: 'new-endpoint-description',
    name: 'description',
    autocomplete: 'off',
  });
  const errors = h('div', { class: 'form-error', role: 'alert' });
  const notice = h('div');
  const submit = h('button', { type: 'submit' }, 'Create endpoint');
  const form: HTMLFormElement = h(
    'form',
    {
      class: 'targeting',
      'aria-label': 'New endpoint',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        mount(errors);
        submit.disabled = true;
        try {
          const endpoint = await ctx.admin<{ id: string; url: string; secret: string }>(
            '/webhooks/endpoints',
            {
              method: 'POST',
              body: {
                url: url.value.trim(),
                event_types: events.value.split(/[\s,]+/).filter(Boolean),
                ...(description.value.trim() ? { description: description.value.trim() } : {}),
              },
            },
          );
          mount(
            notice,
            secretNotice(endpoint.secret, `The signing secret of ${endpoint.url}.`),
            h('p', null, h('a', { href: `#/webhooks/${endpoint.id}` }, 'Open the new endpoint')),
          );
          form.reset();
          announce(`Endpoint created: ${endpoint.url}`);
          created();
        } catch (error) {
          mount(errors, refusal(error).map((line) => h('p', null, line)));
          announce(`Not created: ${describe(error)}`, 'error');
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('label', { for: url.id }, 'URL'),
    url,
    h('label', { for: events.id }, 'Event types (comma-separated: ride.completed, ride.*, *)'),
    events,
    h('label', { for: description.id }, 'Description (optional)'),
    description,
    submit,
    errors,
  );
  return h(
    'details',
    { class: 'region' },
    h('summary', null, 'New endpoint'),
    form,
    notice,
  );
}

/** `#/webhooks`: outbound endpoints; `#/webhooks/<id>`: one, with its health and actions. */
export const webhooksPage: Page = (ctx, main, params) => {
  if (params[0]) return endpointDetail(ctx, main, params[0]);
  const listing: Listing<Endpoint> = {
    what: 'endpoints',
    path: '/webhooks/endpoints',
    filters: [{ name: 'status', label: 'Status', options: ['', ...ENDPOINT_STATUSES] }],
    render: (items) =>
      table(
        'Outbound endpoints',
        ['url', 'status', 'events', 'failing since'],
        items.map((e) => [
          h('a', { href: `#/webhooks/${e.id}` }, e.url),
          badge(e.status),
          e.event_types.join(', '),
          when(e.failing_since),
        ]),
      ),
    empty: ctx.can('webhooks:write')
      ? 'No outbound endpoints yet. Create one above.'
      : 'No outbound endpoints. An operator creates them here or with the admin API.',
  };
  const results = h('div');
  mount(
    main,
    pageHead('Outbound endpoints'),
    ctx.can('webhooks:write') ? createForm(ctx, () => void pager(ctx, listing, results)) : null,
    filterForm(listing, () => void pager(ctx, listing, results)),
    results,
  );
  void pager(ctx, listing, results);
};
