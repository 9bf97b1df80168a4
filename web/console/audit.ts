import { h, mount, when } from '../shared/dom.ts';
import type { Page } from './context.ts';
import { filterForm, type Listing, pager } from './listing.ts';
import { jsonBlock, pageHead, table } from './ui.ts';

interface AuditEntry {
  id: number;
  created_at: string;
  actor: string;
  action: string;
  entity_type: string;
  entity_id: string | null;
  before: unknown;
  after: unknown;
  context: unknown;
  request_id: string | null;
  ip: string | null;
}

/** `#/audit`: who did what to which entity, filtered by actor, action, entity and time. */
export const auditPage: Page = (ctx, main) => {
  if (!ctx.can('audit:read')) {
    mount(
      main,
      pageHead('Audit log'),
      h('p', { class: 'note' }, 'Your role cannot read the audit log.'),
    );
    return;
  }
  const listing: Listing<AuditEntry> = {
    what: 'audit entries',
    path: '/audit',
    filters: [
      { name: 'actor', label: 'Actor' },
      { name: 'action', label: 'Action' },
      { name: 'entity_type', label: 'Entity type' },
      { name: 'entity_id', label: 'Entity id' },
      { name: 'since', label: 'Since', type: 'datetime-local' },
      { name: 'until', label: 'Until', type: 'datetime-local' },
    ],
    render: (entries) =>
      table(
        'Audit log',
        ['when', 'actor', 'action', 'entity', 'from', 'change'],
        entries.map((entry) => [
          when(entry.created_at),
          entry.actor,
          entry.action,
          `${entry.entity_type} ${entry.entity_id ?? ''}`,
          entry.ip ?? '—',
          h(
            'details',
            null,
            h('summary', null, 'before / after'),
            jsonBlock(
              { before: entry.before, after: entry.after, context: entry.context },
              `Change ${entry.id}`,
            ),
          ),
        ]),
      ),
    empty: 'No audit entries match.',
  };
  const results = h('div');
  mount(
    main,
    pageHead('Audit log'),
    filterForm(listing, () => void pager(ctx, listing, results)),
    results,
  );
  void pager(ctx, listing, results);
};
