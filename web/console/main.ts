import type { Session } from '@supabase/supabase-js';
import { ApiError, jsonClient } from '../shared/api.ts';
import { type Auth, createAuth, roleOf } from '../shared/auth.ts';
import { ConfigError, loadConfig } from '../shared/config.ts';
import { h, mount } from '../shared/dom.ts';
import { auditPage } from './audit.ts';
import { type ConsoleContext, type Page, permissionsOf } from './context.ts';
import { eventsPage } from './events.ts';
import { flagsPage } from './flags.ts';
import { deadJobsPage, jobsPage } from './jobs.ts';
import { overviewPage } from './overview.ts';
import { describe, failure } from './ui.ts';
import { webhooksPage } from './webhooks.ts';
import '../shared/base.css';
import './styles.css';

const root = document.getElementById('root')!;

/** The console's pages by the first part of the hash: `#/flags`, `#/events/<id>`. */
const ROUTES: Record<string, { title: string; page: Page; nav?: boolean }> = {
  '': { title: 'Overview', page: overviewPage, nav: true },
  overview: { title: 'Overview', page: overviewPage },
  events: { title: 'Events', page: eventsPage, nav: true },
  jobs: { title: 'Jobs', page: jobsPage, nav: true },
  dead: { title: 'Dead letters', page: deadJobsPage, nav: true },
  flags: { title: 'Flags', page: flagsPage, nav: true },
  webhooks: { title: 'Outbound', page: webhooksPage, nav: true },
  audit: { title: 'Audit log', page: auditPage, nav: true },
};

function route(): { key: string; params: string[] } {
  const [key = '', ...params] = location.hash.replace(/^#\/?/, '').split('/').map(
    decodeURIComponent,
  );
  return { key: Object.hasOwn(ROUTES, key) ? key : '', params };
}

function signInView(auth: Auth, message?: string): void {
  const error = h('p', { class: 'form-error', role: 'alert', id: 'sign-in-error' }, message ?? '');
  const email = h('input', {
    id: 'email',
    type: 'email',
    name: 'email',
    autocomplete: 'username',
    required: true,
  });
  const password = h('input', {
    id: 'password',
    type: 'password',
    name: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'sign-in',
      'aria-describedby': 'sign-in-error',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        submit.disabled = true;
        error.textContent = '';
        try {
          await auth.signIn(email.value, password.value);
          await boot(auth);
        } catch (reason) {
          error.textContent = `Sign-in failed: ${(reason as Error).message}`;
          submit.disabled = false;
          password.focus();
        }
      },
    },
    h('label', { for: 'email' }, 'Email'),
    email,
    h('label', { for: 'password' }, 'Password'),
    password,
    submit,
    error,
  );
  mount(
    root,
    h(
      'main',
      { class: 'sign-in-page', id: 'main' },
      h('h1', null, 'Gatehouse console'),
      h('p', null, 'Sign in with an account whose role is admin, operator or support.'),
      form,
    ),
  );
  email.focus();
}

function refusedView(auth: Auth, email: string, detail: string): void {
  mount(
    root,
    h(
      'main',
      { class: 'sign-in-page', id: 'main' },
      h('h1', null, 'Not allowed'),
      h(
        'p',
        { role: 'alert' },
        `You are signed in as ${email}, whose role cannot use the console. ${detail}`,
      ),
      h(
        'p',
        null,
        'An admin can grant a role: ',
        h('code', null, 'npx gatehouse users role <email> operator'),
        ' (docs/console.md).',
      ),
      h('button', {
        type: 'button',
        onclick: async () => {
          await auth.signOut();
          signInView(auth);
        },
      }, 'Sign out'),
    ),
  );
}

/** The signed-in shell: header, navigation, and the page the hash names. */
function shell(ctx: ConsoleContext): void {
  const main = h('main', { id: 'main', tabindex: '-1' });
  const nav = h('nav', { 'aria-label': 'Console' });
  const status = h('span', { id: 'platform-status', class: 'badge' }, '…');
  mount(
    root,
    h('a', { href: '#main', class: 'skip-link' }, 'Skip to content'),
    h(
      'header',
      { class: 'top' },
      h('a', { href: '#/', class: 'brand' }, 'Gatehouse'),
      status,
      h(
        'span',
        { class: 'who' },
        `${ctx.email} (${ctx.role})`,
      ),
      h('button', {
        type: 'button',
        class: 'secondary',
        onclick: async () => {
          await ctx.auth.signOut();
          location.hash = '#/';
          signInView(ctx.auth, 'Signed out.');
        },
      }, 'Sign out'),
    ),
    nav,
    main,
    h('div', { id: 'announce', 'aria-live': 'polite', class: 'announce' }),
  );
  let leave: (() => void) | void;
  let first = true;
  const show = () => {
    leave?.();
    const { key, params } = route();
    const { title } = ROUTES[key]!;
    mount(
      nav,
      h(
        'ul',
        null,
        Object.entries(ROUTES).filter(([, r]) => r.nav).map(([path, r]) =>
          h(
            'li',
            null,
            h('a', {
              href: `#/${path}`,
              'aria-current': path === key || (path === '' && key === 'overview') ? 'page' : false,
            }, r.title),
          )
        ),
      ),
    );
    document.title = `${title} · Gatehouse console`;
    mount(main);
    leave = ROUTES[key]!.page(ctx, main, params);
    // Moving focus to the new page's heading tells a screen reader the page changed.
    if (!first) main.querySelector<HTMLElement>('h1')?.focus();
    first = false;
  };
  globalThis.onhashchange = show;
  show();
}

/** Checks the session against the API, then shows the console or says why not. */
async function boot(auth: Auth, session?: Session | null): Promise<void> {
  const current = session ?? await auth.session();
  if (!current) return signInView(auth);
  const email = current.user.email ?? current.user.id;
  const role = roleOf(current);
  const admin = jsonClient(`${config.functionsUrl}/admin`, () => auth.token(), () => {
    void auth.signOut().then(() => signInView(auth, 'Your session has ended. Sign in again.'));
  });
  const permissions = permissionsOf(role);
  // A token whose role reads the console opens it at once (every call still goes through
  // the API's check); any other asks the API, which answers 403 with the reason.
  if (!permissions.includes('ops:read')) {
    try {
      // The API decides: a role without `ops:read` gets 403 here.
      await admin('/overview');
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) {
        return refusedView(auth, email, error.detail ?? '');
      }
      if (error instanceof ApiError && error.status === 401) {
        await auth.signOut();
        return signInView(auth, 'Your session has ended. Sign in again.');
      }
      if (!(error instanceof ApiError && error.transient)) {
        mount(
          root,
          h(
            'main',
            { id: 'main' },
            h('h1', null, 'Gatehouse console'),
            failure(error, () => void boot(auth)),
          ),
        );
        return;
      }
      // Unavailable for now: the console opens and its pages show and retry the outage.
    }
  }
  shell({ admin, auth, email, role, can: (permission) => permissions.includes(permission) });
}

let config: Awaited<ReturnType<typeof loadConfig>>;
try {
  config = await loadConfig();
  const auth = createAuth(config, 'gatehouse-console');
  await boot(auth);
} catch (error) {
  mount(
    root,
    h(
      'main',
      { id: 'main' },
      h('h1', null, 'Gatehouse console'),
      h('p', { role: 'alert' }, error instanceof ConfigError ? error.message : describe(error)),
    ),
  );
}
