import { h, mount, when } from '../shared/dom.ts';
import { type ConsoleContext, every, type Page } from './context.ts';
import {
  announce,
  confirmAction,
  describe,
  empty,
  failure,
  load,
  loading,
  pageHead,
  table,
} from './ui.ts';

interface Flag {
  key: string;
  enabled: boolean;
  rollout_percent: number;
  groups: string[];
  environments: string[];
  min_app_version: string | null;
  description: string | null;
  updated_at: string;
  updated_by: string;
}
interface ApiPage<T> {
  items: T[];
  next_cursor: string | null;
}
interface AuditEntry {
  created_at: string;
  actor: string;
  action: string;
  before: Partial<Flag> | null;
  after: Partial<Flag> | null;
}

const FIELDS = ['enabled', 'rollout_percent', 'groups', 'environments', 'min_app_version'] as const;

/** What a history row changed, in words: `enabled: true → false`. */
function changes(entry: AuditEntry): string {
  const before = (entry.before ?? {}) as Record<string, unknown>;
  const after = (entry.after ?? {}) as Record<string, unknown>;
  const parts = FIELDS.filter((field) =>
    JSON.stringify(before[field]) !== JSON.stringify(after[field])
  )
    .map((field) =>
      `${field}: ${JSON.stringify(before[field] ?? null)} → ${JSON.stringify(after[field] ?? null)}`
    );
  return parts.join('; ') || entry.action;
}

const list = (text: string) => text.split(',').map((item) => item.trim()).filter(Boolean);

/**
 * One flag as a card: its switch, its rollout slider, its groups and environments, and
 * its history. `sync` brings in a change made elsewhere (SQL, another operator) unless the
 * reader is editing this card.
 */
function flagCard(ctx: ConsoleContext, initial: Flag) {
  let flag = initial;
  let editing = false;
  const id = `flag-${flag.key.replace(/[^a-zA-Z0-9_-]/g, '-')}`;
  const writable = ctx.can('flags:write');
  const save = async (change: Partial<Flag>, what: string) => {
    try {
      flag = await ctx.admin<Flag>(`/flags/${encodeURIComponent(flag.key)}`, {
        method: 'PATCH',
        body: change,
      });
      announce(`${flag.key}: ${what}`);
      editing = false;
      sync(flag, true);
      if (history.open) void showHistory();
    } catch (error) {
      announce(`${flag.key}: not saved. ${describe(error)}`, 'error');
      sync(flag, true);
    }
  };
  const toggle = h('input', {
    type: 'checkbox',
    role: 'switch',
    id: `${id}-enabled`,
    disabled: !writable,
    onchange: async () => {
      const next = toggle.checked;
      const ok = await confirmAction(
        `${next ? 'Switch on' : 'Switch off'} ${flag.key}?`,
        next
          ? 'Everything this flag guards starts at once, for the rollout and targeting below.'
          : 'Everything this flag guards stops at once, on every instance within 2 seconds.',
        next ? 'Switch on' : 'Switch off',
      );
      if (ok) await save({ enabled: next }, next ? 'switched on' : 'switched off');
      else toggle.checked = flag.enabled;
    },
  });
  const rolloutOut = h('output', { for: `${id}-rollout` });
  const rollout = h('input', {
    type: 'range',
    id: `${id}-rollout`,
    min: 0,
    max: 100,
    step: 1,
    disabled: !writable,
    oninput: () => {
      editing = true;
      rolloutOut.textContent = `${rollout.value} %`;
    },
    onchange: () => save({ rollout_percent: Number(rollout.value) }, `rollout ${rollout.value} %`),
  });
  const groups = h('input', {
    type: 'text',
    id: `${id}-groups`,
    disabled: !writable,
    oninput: () => (editing = true),
  });
  const environments = h('input', {
    type: 'text',
    id: `${id}-environments`,
    disabled: !writable,
    oninput: () => (editing = true),
  });
  const targeting = h(
    'form',
    {
      class: 'targeting',
      onsubmit: (event: Event) => {
        event.preventDefault();
        void save(
          { groups: list(groups.value), environments: list(environments.value) },
          'targeting saved',
        );
      },
    },
    h('label', { for: groups.id }, 'Groups (comma-separated)'),
    groups,
    h('label', { for: environments.id }, 'Environments'),
    environments,
    writable ? h('button', { type: 'submit' }, 'Save targeting') : null,
  );
  const updated = h('p', { class: 'small' });
  const historyBody = h('div');
  const showHistory = () =>
    load(
      historyBody,
      'the history',
      () =>
        ctx.admin<ApiPage<AuditEntry>>(`/flags/${encodeURIComponent(flag.key)}/history?limit=20`),
      (page) =>
        page.items.length
          ? table(
            `Changes to ${flag.key}`,
            ['when', 'who', 'change'],
            page.items.map((entry) => [when(entry.created_at), entry.actor, changes(entry)]),
          )
          : empty('No changes recorded yet.'),
    );
  const history = h(
    'details',
    { ontoggle: () => history.open && void showHistory() },
    h('summary', null, 'Change history'),
    historyBody,
  );
  const sync = (next: Flag, force = false) => {
    if (
      !force &&
      (editing || card.contains(document.activeElement) && document.activeElement !== toggle)
    ) {
      return;
    }
    flag = next;
    toggle.checked = flag.enabled;
    rollout.value = String(flag.rollout_percent);
    rolloutOut.textContent = `${flag.rollout_percent} %`;
    groups.value = flag.groups.join(', ');
    environments.value = flag.environments.join(', ');
    updated.textContent = `changed ${when(flag.updated_at)} by ${flag.updated_by}`;
    card.dataset.enabled = String(flag.enabled);
    card.dataset.rollout = String(flag.rollout_percent);
  };
  const card = h(
    'article',
    { class: 'flag', id, 'data-key': flag.key },
    h(
      'div',
      { class: 'flag-head' },
      h('h2', null, flag.key),
      h('label', { class: 'switch', for: toggle.id }, toggle, ' enabled'),
    ),
    flag.description ? h('p', null, flag.description) : null,
    h('div', { class: 'rollout' }, h('label', { for: rollout.id }, 'Rollout'), rollout, rolloutOut),
    targeting,
    updated,
    history,
  );
  sync(flag, true);
  return { element: card, sync };
}

/** Every flag, changed here or in SQL: the page follows the table every 2 seconds. */
export const flagsPage: Page = (ctx, main) => {
  const region = h('div', { class: 'flags' }, loading('the flags'));
  mount(
    main,
    pageHead('Flags'),
    ctx.can('flags:write')
      ? null
      : h('p', { class: 'note' }, 'Your role can read flags, not change them.'),
    region,
  );
  const cards = new Map<string, ReturnType<typeof flagCard>>();
  const refresh = async (first: boolean) => {
    let flags: Flag[];
    try {
      flags = (await ctx.admin<ApiPage<Flag>>('/flags?limit=100')).items;
    } catch (error) {
      if (first) mount(region, failure(error, () => void refresh(true)));
      return;
    }
    if (first || flags.length !== cards.size || flags.some((flag) => !cards.has(flag.key))) {
      cards.clear();
      for (const flag of flags) cards.set(flag.key, flagCard(ctx, flag));
      mount(
        region,
        flags.length ? [...cards.values()].map((card) => card.element) : empty('No flags yet.'),
      );
      return;
    }
    for (const flag of flags) cards.get(flag.key)!.sync(flag);
  };
  void refresh(true);
  return every(2_000, () => refresh(false));
};
