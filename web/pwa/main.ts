// The reference app's PWA (docs/pwa.md): sign-in, my rides, my vehicles, my payment QR
// code, and the share target that turns a shared place into a ride's pickup. Vanilla
// TypeScript on web/shared; the service worker (web/public/app/sw.js) keeps the shell and
// the last answers for offline use.
import type { Session } from '@supabase/supabase-js';
import { type Auth, createAuth } from '../shared/auth.ts';
import { loadConfig, type WebConfig } from '../shared/config.ts';
import { h, mount } from '../shared/dom.ts';
import { userApi } from './api.ts';
import type { AppContext, User, View } from './context.ts';
import { qrView } from './qr.ts';
import { ridesView } from './rides.ts';
import { shareView } from './share-view.ts';
import { field } from './ui.ts';
import { vehiclesView } from './vehicles.ts';
import '../shared/base.css';
import './styles.css';

/** Where supabase-js keeps this app's session (the console has its own). */
const STORAGE_KEY = 'gatehouse-app';
/** Whose answers the service worker's data cache holds. */
const DATA_OWNER_KEY = 'gatehouse-app-data-owner';
/** The caches of API answers (web/public/app/sw.js names them `gatehouse-app-data-v<n>`). */
const DATA_CACHE_PREFIX = 'gatehouse-app-data';
/** How long to wait on supabase-js (a token refresh on a bad connection) before going on. */
const AUTH_WAIT_MS = 4_000;

const root = document.getElementById('root')!;

const ROUTES: Record<string, { title: string; view: View; nav?: string }> = {
  '/app/': { title: 'My rides', view: ridesView, nav: 'My rides' },
  '/app/rides': { title: 'My rides', view: ridesView },
  '/app/vehicles': { title: 'My vehicles', view: vehiclesView, nav: 'My vehicles' },
  '/app/qr': { title: 'My QR code', view: qrView, nav: 'My QR code' },
  '/app/share': { title: 'Shared place', view: shareView },
};

const notFoundView: View = (_ctx, main) => {
  main.append(
    h('h1', { tabindex: '-1' }, 'Not found'),
    h('p', null, 'There is nothing here. ', h('a', { href: '/app/' }, 'Go to my rides'), '.'),
  );
};

function withTimeout<T>(promise: Promise<T>, ms: number, fallback: () => T): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(fallback()), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      () => {
        clearTimeout(timer);
        resolve(fallback());
      },
    );
  });
}

/** The session supabase-js keeps, read directly: what it holds when a refresh cannot run. */
function keptSession(): { access_token?: string; user?: { id?: string; email?: string } } | null {
  try {
    const value = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null');
    return value && typeof value === 'object' ? value : null;
  } catch {
    return null;
  }
}

function userOf(session: Session | null): User | null {
  if (session) return { id: session.user.id, email: session.user.email ?? null };
  // Offline with an expired token supabase-js cannot refresh: it answers no session but
  // keeps it. The kept answers are still this user's to see.
  const kept = keptSession()?.user;
  return kept?.id ? { id: kept.id, email: kept.email ?? null } : null;
}

async function clearKeptData(): Promise<void> {
  if (!('caches' in globalThis)) return;
  for (const name of await caches.keys()) {
    if (name.startsWith(DATA_CACHE_PREFIX)) await caches.delete(name);
  }
}

/** The answers kept on this phone are one user's: another user's sign-in drops them. */
async function ownKeptData(user: User): Promise<void> {
  if (localStorage.getItem(DATA_OWNER_KEY) === user.id) return;
  await clearKeptData();
  localStorage.setItem(DATA_OWNER_KEY, user.id);
}

function registerServiceWorker(config: WebConfig): void {
  if (!('serviceWorker' in navigator)) return;
  const script = `/app/sw.js?api=${encodeURIComponent(`${config.functionsUrl}/api`)}`;
  navigator.serviceWorker.register(script, { scope: '/app/' }).catch((error) => {
    console.warn(`the service worker did not register: ${(error as Error).message}`);
  });
}

function startFailed(message: string): void {
  mount(
    root,
    h(
      'main',
      { class: 'narrow', id: 'main' },
      h('h1', null, 'Mobility hub'),
      h('p', { class: 'error', role: 'alert' }, `The app could not start: ${message}`),
      h(
        'button',
        { type: 'button', class: 'primary', onclick: () => location.reload() },
        'Try again',
      ),
    ),
  );
}

function signInView(
  auth: Auth,
  start: (session: Session, fromForm: boolean) => void,
  message = '',
): void {
  let signingUp = false;
  const heading = h('h1', { tabindex: '-1' }, 'Sign in');
  const error = h('p', { class: 'form-error', role: 'alert', id: 'sign-in-error' }, message);
  const email = field(
    'Email',
    h('input', {
      id: 'email',
      type: 'email',
      name: 'email',
      autocomplete: 'username',
      required: true,
    }),
  );
  const password = field(
    'Password',
    h('input', {
      id: 'password',
      type: 'password',
      name: 'password',
      autocomplete: 'current-password',
      required: true,
      minLength: 6,
    }),
  );
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const toggle = h('button', {
    type: 'button',
    class: 'link',
    onclick: () => {
      signingUp = !signingUp;
      heading.textContent = signingUp ? 'Create an account' : 'Sign in';
      submit.textContent = signingUp ? 'Create account' : 'Sign in';
      toggle.textContent = signingUp ? 'I have an account: sign in' : 'New here? Create an account';
      password.input.autocomplete = signingUp ? 'new-password' : 'current-password';
      error.textContent = '';
      heading.focus();
    },
  }, 'New here? Create an account');
  const form = h(
    'form',
    {
      class: 'card',
      'aria-describedby': error.id,
      onsubmit: async (event: Event) => {
        event.preventDefault();
        submit.disabled = true;
        error.textContent = '';
        try {
          if (!navigator.onLine) throw new Error('you are offline; signing in needs a connection');
          let session: Session | null;
          if (signingUp) {
            const { data, error: refused } = await auth.client.auth.signUp({
              email: email.input.value,
              password: password.input.value,
            });
            if (refused) throw refused;
            session = data.session;
            if (!session) {
              error.textContent = 'Check your email to confirm the address, then sign in.';
              submit.disabled = false;
              return;
            }
          } else {
            session = await auth.signIn(email.input.value, password.input.value);
          }
          start(session, true);
        } catch (reason) {
          error.textContent = `${signingUp ? 'Sign-up' : 'Sign-in'} failed: ${
            (reason as Error).message
          }`;
          submit.disabled = false;
          password.input.focus();
        }
      },
    },
    email.wrap,
    password.wrap,
    submit,
    error,
  );
  const sharing = location.pathname.startsWith('/app/share');
  mount(
    root,
    h(
      'main',
      { class: 'narrow', id: 'main' },
      h('p', { class: 'brand' }, 'Mobility hub'),
      heading,
      h(
        'p',
        null,
        sharing
          ? 'Sign in to request a ride from the place you shared.'
          : 'Your rides, vehicles and payment QR code.',
      ),
      form,
      h('p', null, toggle),
    ),
  );
  email.input.focus();
}

/** The signed-in app: header, sections, and the view the path names. */
function shell(
  auth: Auth,
  config: WebConfig,
  user: User,
  signOut: (message: string) => void,
  focusHeading: boolean,
) {
  let flashed: string | null = null;
  let refreshers: (() => void)[] = [];
  let leave: (() => void) | void;
  const listening = new AbortController();
  const { signal } = listening;
  const main = h('main', { id: 'main', tabindex: '-1' });
  const nav = h('nav', { 'aria-label': 'Sections' });
  const network = h('p', { class: 'network', role: 'status' });
  const ctx: AppContext = {
    auth,
    user,
    api: userApi(
      `${config.functionsUrl}/api`,
      () =>
        withTimeout(auth.token(), AUTH_WAIT_MS, () => keptSession()?.access_token ?? null)
          .then((token) => token ?? keptSession()?.access_token ?? null),
    ),
    navigate(path, options = {}) {
      if (options.replace) history.replaceState(null, '', path);
      else history.pushState(null, '', path);
      show();
    },
    flash(message) {
      flashed = message;
    },
    takeFlash() {
      const message = flashed;
      flashed = null;
      return message;
    },
    onRefresh(listener) {
      refreshers.push(listener);
    },
    signedOut: signOut,
  };
  const refresh = () => {
    for (const listener of refreshers) listener();
  };
  const showNetwork = () => {
    network.textContent = navigator.onLine
      ? ''
      : 'You are offline. You see what this phone kept; changes need a connection.';
  };
  globalThis.addEventListener('online', () => {
    showNetwork();
    refresh();
  }, { signal });
  globalThis.addEventListener('offline', showNetwork, { signal });
  // The service worker taking over (the first visit, or a new version): read again through
  // it, so the answers are kept for offline use.
  navigator.serviceWorker?.addEventListener('controllerchange', refresh, { signal });

  mount(
    root,
    h('a', { href: '#main', class: 'skip-link' }, 'Skip to content'),
    h(
      'header',
      { class: 'top' },
      h('a', { href: '/app/', class: 'brand' }, 'Mobility hub'),
      h('span', { class: 'who' }, user.email ?? ''),
      h('button', {
        type: 'button',
        class: 'secondary',
        onclick: () => signOut('You are signed out.'),
      }, 'Sign out'),
    ),
    nav,
    network,
    main,
  );
  showNetwork();

  // Right after the sign-in form, focus goes to the first view's heading too.
  let first = !focusHeading;
  function show(): void {
    leave?.();
    refreshers = [];
    const path = location.pathname.replace(/\/index\.html$/, '/');
    const route = ROUTES[path] ?? ROUTES[path.replace(/\/+$/, '')];
    mount(
      nav,
      h(
        'ul',
        null,
        Object.entries(ROUTES).filter(([, r]) => r.nav).map(([href, r]) =>
          h(
            'li',
            null,
            h('a', { href, 'aria-current': route?.title === r.title ? 'page' : false }, r.nav),
          )
        ),
      ),
    );
    document.title = `${route?.title ?? 'Not found'} · Mobility hub`;
    mount(main);
    leave = (route?.view ?? notFoundView)(ctx, main, new URLSearchParams(location.search));
    // Moving focus to the new view's heading tells a screen reader the view changed.
    if (!first) main.querySelector<HTMLElement>('h1')?.focus();
    first = false;
  }
  // Links inside the app change the view without loading the page again.
  root.addEventListener('click', (event) => {
    const link = (event.target as Element).closest?.('a');
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey || link.target) return;
    if (link.getAttribute('href')?.startsWith('#')) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith('/app/')) return;
    event.preventDefault();
    ctx.navigate(url.pathname + url.search);
  }, { signal });
  globalThis.addEventListener('popstate', show, { signal });
  show();
  return () => {
    leave?.();
    listening.abort();
  };
}

async function start(): Promise<void> {
  let config: WebConfig;
  try {
    config = await loadConfig();
  } catch (error) {
    return startFailed((error as Error).message);
  }
  registerServiceWorker(config);
  const auth = createAuth(config, STORAGE_KEY);
  let close: (() => void) | null = null;

  const signOut = async (message: string) => {
    close?.();
    close = null;
    await withTimeout(auth.signOut(), AUTH_WAIT_MS, () => undefined);
    // Offline, supabase-js keeps the session when it cannot end it: forget it here anyway.
    localStorage.removeItem(STORAGE_KEY);
    await clearKeptData();
    history.replaceState(
      null,
      '',
      location.pathname.startsWith('/app/share') ? location.href : '/app/',
    );
    signInView(auth, enter, message);
  };
  const enter = async (session: Session | null, fromForm = false) => {
    const user = userOf(session);
    if (!user) return signInView(auth, enter);
    await ownKeptData(user);
    close?.();
    close = shell(auth, config, user, (message) => void signOut(message), fromForm);
  };

  const session = await withTimeout(auth.session(), AUTH_WAIT_MS, () => null);
  await enter(session);
}

void start();
