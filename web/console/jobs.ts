import { h, mount, when } from '../shared/dom.ts';
import { type ConsoleContext, every, type Page } from './context.ts';
import {
  announce,
  badge,
  confirmAction,
  describe,
  empty,
  jsonBlock,
  load,
  pageHead,
  table,
} from './ui.ts';
import { filterForm, type Listing, pager } from './listing.ts';

interface Job {
  id: number;
  queue: string;
  kind: string;
  status: string;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  created_at: string;
  at: string | null;
  request_id: string | null;
}
interface JobDetail extends Job {
  payload: unknown;
  errors: { at?: string; error?: string; attempt?: number }[] | null;
}
interface DeadJob {
  id: number;
  queue: string;
  kind: string;
  payload: unknown;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  errors: unknown;
  created_at: string;
  dead_at: string;
}

function jobDetail(ctx: ConsoleContext, main: HTMLElement, id: string) {
  const region = h('div');
  mount(main, pageHead(`Job ${id}`, h('a', { href: '#/jobs' }, 'All jobs')), region);
  const draw = () =>
    load(
      region,
      'the job',
      () => ctx.admin<JobDetail>(`/jobs/${encodeURIComponent(id)}`),
      (job) => [
        h(
          'dl',
          { class: 'facts' },
          [
            ['status', badge(job.status)],
            ['kind', job.kind],
            ['queue', job.queue],
            ['attempts', `${job.attempts} of ${job.max_attempts}`],
            ['created', when(job.created_at)],
            ['next run / finished', when(job.at)],
            ['request id', job.request_id ?? '—'],
          ].map(([term, value]) => h('div', null, h('dt', null, term), h('dd', null, value))),
        ),
        h('h2', null, 'Errors'),
        job.errors?.length
          ? table(
            'Error history',
            ['attempt', 'when', 'error'],
            job.errors.map((e, i) => [
              String(e.attempt ?? i + 1),
              when(e.at),
              e.error ?? JSON.stringify(e),
            ]),
          )
          : empty('No errors.'),
        h('h2', null, 'Payload'),
        jsonBlock(job.payload, 'Job payload'),
      ],
      { quiet: region.childElementCount > 0 },
    );
  void draw();
  // A job in flight changes: follow it until it finishes.
  return every(2_000, draw);
}

/** `#/jobs`: the queue, filtered by status, queue and kind; `#/jobs/<id>`: one job. */
export const jobsPage: Page = (ctx, main, params) => {
  if (params[0]) return jobDetail(ctx, main, params[0]);
  const listing: Listing<Job> = {
    what: 'jobs',
    path: '/jobs',
    filters: [
      { name: 'status', label: 'Status', options: ['', 'pending', 'running', 'completed'] },
      { name: 'queue', label: 'Queue' },
      { name: 'kind', label: 'Kind' },
    ],
    render: (jobs) =>
      table(
        'Jobs',
        ['id', 'kind', 'queue', 'status', 'attempts', 'created', 'last error'],
        jobs.map((job) => [
          h('a', { href: `#/jobs/${job.id}` }, String(job.id)),
          job.kind,
          job.queue,
          badge(job.status),
          `${job.attempts}/${job.max_attempts}`,
          when(job.created_at),
          job.last_error ?? '',
        ]),
      ),
    empty: 'No jobs match.',
  };
  const results = h('div');
  mount(
    main,
    pageHead('Jobs'),
    filterForm(listing, () => void pager(ctx, listing, results)),
    results,
  );
  void pager(ctx, listing, results);
};

/**
 * `#/dead`: dead letters with their error history; replay one, or a selection, after a
 * confirmation. Each replay is audit-logged by the API.
 */
export const deadJobsPage: Page = (ctx, main) => {
  const results = h('div');
  const selected = new Set<number>();
  const canReplay = ctx.can('jobs:replay');
  const replaySelected = h('button', {
    type: 'button',
    class: 'primary',
    disabled: true,
    onclick: () => replay([...selected]),
  }, 'Replay selected');
  const updateButton = () => {
    replaySelected.disabled = selected.size === 0;
    replaySelected.textContent = `Replay selected (${selected.size})`;
  };
  const replay = async (ids: number[]) => {
    const ok = await confirmAction(
      ids.length === 1 ? `Replay dead job ${ids[0]}?` : `Replay ${ids.length} dead jobs?`,
      'Each goes back on its queue, due now, with its attempts reset. The replay is recorded in the audit log.',
      'Replay',
    );
    if (!ok) return;
    try {
      const answer = await ctx.admin<{ replayed: number }>(
        ids.length === 1 ? `/dead-jobs/${ids[0]}/replay` : '/dead-jobs/replay',
        ids.length === 1 ? { method: 'POST' } : { method: 'POST', body: { ids } },
      );
      announce(`Replayed ${answer.replayed} job(s); they run again shortly.`);
      selected.clear();
      updateButton();
      void pager(ctx, listing, results);
    } catch (error) {
      announce(`Not replayed: ${describe(error)}`, 'error');
    }
  };
  const listing: Listing<DeadJob> = {
    what: 'dead letters',
    path: '/dead-jobs',
    filters: [{ name: 'queue', label: 'Queue' }, { name: 'kind', label: 'Kind' }],
    render: (jobs) =>
      table(
        'Dead letters',
        [
          canReplay ? 'select' : '',
          'id',
          'kind',
          'queue',
          'attempts',
          'dead since',
          'last error',
          '',
        ],
        jobs.map((job) => [
          canReplay
            ? h('input', {
              type: 'checkbox',
              'aria-label': `Select dead job ${job.id}`,
              checked: selected.has(job.id),
              onchange: (event: Event) => {
                if ((event.target as HTMLInputElement).checked) selected.add(job.id);
                else selected.delete(job.id);
                updateButton();
              },
            })
            : '',
          String(job.id),
          job.kind,
          job.queue,
          `${job.attempts}/${job.max_attempts}`,
          when(job.dead_at),
          h(
            'details',
            null,
            h('summary', null, job.last_error ?? 'error history'),
            jsonBlock(job.errors, `Errors of dead job ${job.id}`),
            jsonBlock(job.payload, `Payload of dead job ${job.id}`),
          ),
          canReplay
            ? h('button', { type: 'button', onclick: () => replay([job.id]) }, `Replay ${job.id}`)
            : '',
        ]),
      ),
    empty: 'No dead letters: every job finished or is still retrying.',
  };
  mount(
    main,
    pageHead('Dead letters', canReplay ? replaySelected : null),
    filterForm(listing, () => void pager(ctx, listing, results)),
    results,
  );
  void pager(ctx, listing, results);
};
