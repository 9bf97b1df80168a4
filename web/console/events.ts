import { EVENT_STATUSES } from '../../functions/_shared/jobs/trace.ts';
import { h, mount, when } from '../shared/dom.ts';
import { type ConsoleContext, type Page } from './context.ts';
import { filterForm, type Listing, pager } from './listing.ts';
import { badge, empty, jsonBlock, load, pageHead, table } from './ui.ts';

interface EventSummary {
  id: number;
  provider: string;
  key: string;
  type: string | null;
  status: string;
  sender: string | null;
  received_at: string;
  job_status: string | null;
  attempts: number | null;
}
interface EventDetail extends EventSummary {
  payload: unknown;
  request_id: string | null;
  jobs: {
    id: number;
    kind: string;
    status: string;
    attempts: number;
    max_attempts: number;
    last_error: string | null;
    errors: unknown;
  }[];
}

function eventDetail(ctx: ConsoleContext, main: HTMLElement, id: string): void {
  const region = h('div');
  mount(main, pageHead(`Event ${id}`, h('a', { href: '#/events' }, 'All events')), region);
  void load(
    region,
    'the event',
    () => ctx.admin<EventDetail>(`/events/${encodeURIComponent(id)}`),
    (event) => [
      h(
        'dl',
        { class: 'facts' },
        [
          ['provider', event.provider],
          ['key', event.key],
          ['type', event.type ?? '—'],
          ['status', badge(event.status)],
          ['sender', event.sender ?? '—'],
          ['received', when(event.received_at)],
          ['request id', event.request_id ?? '—'],
        ].map(([term, value]) => h('div', null, h('dt', null, term), h('dd', null, value))),
      ),
      h('h2', null, 'Jobs and attempts'),
      event.jobs.length
        ? table(
          'Jobs of this event',
          ['job', 'kind', 'status', 'attempts', 'errors'],
          event.jobs.map((job) => [
            h('a', { href: `#/jobs/${job.id}` }, String(job.id)),
            job.kind,
            badge(job.status),
            `${job.attempts}/${job.max_attempts}`,
            job.last_error
              ? h(
                'details',
                null,
                h('summary', null, job.last_error),
                jsonBlock(job.errors, `Errors of job ${job.id}`),
              )
              : '',
          ]),
        )
        : empty('No job for this event (it was refused or is a duplicate).'),
      h('h2', null, 'Payload'),
      jsonBlock(event.payload, 'Event payload'),
    ],
  );
}

/** `#/events`: inbound events by provider, status, key and time; `#/events/<id>`: one. */
export const eventsPage: Page = (ctx, main, params) => {
  if (params[0]) return eventDetail(ctx, main, params[0]);
  const listing: Listing<EventSummary> = {
    what: 'events',
    path: '/events',
    filters: [
      { name: 'provider', label: 'Provider' },
      { name: 'status', label: 'Status', options: ['', ...EVENT_STATUSES] },
      { name: 'key', label: 'Key' },
      { name: 'since', label: 'Since', type: 'datetime-local' },
      { name: 'until', label: 'Until', type: 'datetime-local' },
    ],
    render: (events) =>
      table(
        'Events',
        ['id', 'provider', 'type', 'key', 'status', 'job', 'received'],
        events.map((event) => [
          h('a', { href: `#/events/${event.id}` }, String(event.id)),
          event.provider,
          event.type ?? '—',
          h('span', { class: 'key' }, event.key),
          badge(event.status),
          event.job_status ? badge(event.job_status) : '—',
          when(event.received_at),
        ]),
      ),
    empty: 'No events match. Providers have sent nothing yet, or the filters exclude it.',
  };
  const results = h('div');
  mount(
    main,
    pageHead('Events'),
    filterForm(listing, () => void pager(ctx, listing, results)),
    results,
  );
  void pager(ctx, listing, results);
};
