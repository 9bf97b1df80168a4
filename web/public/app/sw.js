// The PWA's service worker (docs/pwa.md), served as it is from /app/sw.js (not bundled) and
// registered by web/pwa/main.ts as `/app/sw.js?api=<the user API's URL>` with scope /app/.
//
// - The shell (/app/ and the files it names) is kept at install, so the app opens offline.
// - Pages under /app/ (deep links, /app/share): the network first, for a few seconds, then
//   the kept shell; a new shell from the network replaces the kept one and its files.
// - /assets/ (content-hashed names): the cache first, the network once.
// - GETs to the user API: the network first; when it fails, is slow or answers 5xx, the last
//   answer kept, marked `X-Gatehouse-Stale: offline|timeout|error` with the time it was
//   received in `X-Gatehouse-Cached-At`, so the page can say it is showing old data.
// - Nothing else: no POST, PATCH or DELETE, no sign-in (/auth/v1) request is ever cached.
//
// Bump VERSION when this file's caching changes: the old caches are dropped on activation.

const VERSION = 1;
const PREFIX = 'gatehouse-app-';
const SHELL_CACHE = `${PREFIX}shell-v${VERSION}`;
/** The API answers; the page deletes every `gatehouse-app-data-*` cache on sign-out. */
const DATA_CACHE = `${PREFIX}data-v${VERSION}`;
const SHELL_URL = '/app/';
const CONFIG_URL = '/config.json';
/** How long a page or /config.json may take before the kept copy is used. */
const SHELL_TIMEOUT_MS = 3_000;
/** How long an API read may take before the kept answer is shown (the read goes on). */
const API_TIMEOUT_MS = 6_000;

/** `<functions URL>/api/`, from the registration's `?api=`; null: no API answer is kept. */
const API = (() => {
  const api = new URL(self.location.href).searchParams.get('api');
  if (!api) return null;
  try {
    const url = new URL(api);
    return url.protocol === 'https:' || url.protocol === 'http:'
      ? `${url.href.replace(/\/+$/, '')}/`
      : null;
  } catch {
    return null;
  }
})();

/** The same-origin files a page names in `src`/`href`: its scripts, styles, icons. */
function filesOf(html) {
  const files = new Set();
  for (const match of html.matchAll(/\b(?:src|href)\s*=\s*"([^"]+)"/g)) {
    const url = new URL(match[1], self.location.origin);
    if (url.origin !== self.location.origin) continue;
    if (url.pathname.startsWith('/assets/') || url.pathname.startsWith('/app/')) {
      if (url.pathname !== SHELL_URL) files.add(url.pathname);
    }
  }
  return [...files];
}

/** A copy of `response` with `headers` added (the body is not read). */
function withHeaders(response, headers) {
  const copy = new Headers(response.headers);
  for (const [name, value] of Object.entries(headers)) copy.set(name, value);
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers: copy,
  });
}

const isHtml = (response) =>
  response.ok && (response.headers.get('Content-Type') ?? '').includes('text/html');

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL_CACHE);
    const shell = await fetch(SHELL_URL, { cache: 'no-cache' });
    if (!isHtml(shell)) throw new Error(`${SHELL_URL} answered ${shell.status}`);
    const html = await shell.clone().text();
    await cache.addAll(filesOf(html).map((path) => new Request(path, { cache: 'no-cache' })));
    await cache.put(SHELL_URL, shell);
    try {
      const config = await fetch(CONFIG_URL, { cache: 'no-store' });
      if (config.ok) await cache.put(CONFIG_URL, config);
    } catch {
      // Kept on the first read through the worker instead.
    }
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== SHELL_CACHE && name !== DATA_CACHE) {
        await caches.delete(name);
      }
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  // Writes always go to the network, and fail there when it is away.
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  const own = url.origin === self.location.origin;
  if (request.mode === 'navigate') {
    if (own && url.pathname.startsWith(SHELL_URL)) event.respondWith(page(event));
    return;
  }
  if (own && url.pathname.startsWith('/assets/')) {
    event.respondWith(cacheFirst(event));
  } else if (own && url.pathname === CONFIG_URL) {
    event.respondWith(networkFirst(event, {
      cache: SHELL_CACHE,
      key: CONFIG_URL,
      timeoutMs: SHELL_TIMEOUT_MS,
      keep: (response) => response.ok,
    }));
  } else if (own && url.pathname.startsWith(SHELL_URL) && url.pathname !== '/app/sw.js') {
    event.respondWith(cacheFirst(event, { revalidate: true }));
  } else if (API && request.url.startsWith(API) && !/\/(openapi\.json|docs)$/.test(url.pathname)) {
    event.respondWith(networkFirst(event, {
      cache: DATA_CACHE,
      key: request.url,
      timeoutMs: API_TIMEOUT_MS,
      keep: (response) => response.status === 200,
      stamp: true,
    }));
  }
});

/**
 * The network's answer, unless it fails, answers 5xx or takes longer than `timeoutMs` while
 * a kept copy exists: then the copy, marked stale. The network's answer, when it comes, is
 * kept for next time (the worker stays alive for it).
 */
function networkFirst(event, { cache: cacheName, key, timeoutMs, keep, stamp = false }) {
  const network = fetch(event.request).then(async (response) => {
    if (keep(response)) {
      const copy = response.clone();
      const cache = await caches.open(cacheName);
      await cache.put(
        key,
        stamp ? withHeaders(copy, { 'X-Gatehouse-Cached-At': new Date().toISOString() }) : copy,
      );
    }
    return response;
  });
  event.waitUntil(network.then(() => {}, () => {}));
  return (async () => {
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve({ timeout: true }), timeoutMs);
    });
    const first = await Promise.race([
      network.then((response) => ({ response }), (error) => ({ error })),
      timeout,
    ]);
    clearTimeout(timer);
    if (first.response && first.response.status < 500) return first.response;
    const kept = await (await caches.open(cacheName)).match(key, { ignoreVary: true });
    if (kept) {
      const reason = first.timeout ? 'timeout' : first.error ? 'offline' : 'error';
      return withHeaders(kept, { 'X-Gatehouse-Stale': reason });
    }
    // Nothing kept: the network's answer after all, whatever and whenever it is.
    return network;
  })();
}

/**
 * A page under /app/: every one is the same shell (the server answers /app/index.html for
 * any path there). The network's when it answers in time, else the kept shell; a static
 * host that answers 404 for /app/share still gets the shell from here.
 */
function page(event) {
  const network = fetch(event.request).then(async (response) => {
    if (isHtml(response) && !response.redirected) await keepShell(response.clone());
    return response;
  });
  event.waitUntil(network.then(() => {}, () => {}));
  return (async () => {
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve({ timeout: true }), SHELL_TIMEOUT_MS);
    });
    const first = await Promise.race([
      network.then((response) => ({ response }), (error) => ({ error })),
      timeout,
    ]);
    clearTimeout(timer);
    if (first.response && isHtml(first.response)) return first.response;
    const kept = await (await caches.open(SHELL_CACHE)).match(SHELL_URL, { ignoreVary: true });
    if (kept) return kept;
    return network;
  })();
}

/** Keeps a new shell and the files it names, and drops the files the old one named. */
async function keepShell(response) {
  const cache = await caches.open(SHELL_CACHE);
  const html = await response.clone().text();
  const old = await cache.match(SHELL_URL, { ignoreVary: true });
  if (old && (await old.text()) === html) return;
  const files = filesOf(html);
  await cache.addAll(files.map((path) => new Request(path, { cache: 'no-cache' })));
  await cache.put(SHELL_URL, response);
  const wanted = new Set(files);
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname;
    if (path.startsWith('/assets/') && !wanted.has(path)) await cache.delete(request);
  }
}

/** The kept copy, else the network's (then kept); `revalidate`: refreshed behind it too. */
async function cacheFirst(event, { revalidate = false } = {}) {
  const cache = await caches.open(SHELL_CACHE);
  const kept = await cache.match(event.request, { ignoreVary: true });
  if (kept && !revalidate) return kept;
  const network = fetch(event.request).then(async (response) => {
    if (response.ok) await cache.put(event.request, response.clone());
    return response;
  });
  event.waitUntil(network.then(() => {}, () => {}));
  return kept ?? network;
}
