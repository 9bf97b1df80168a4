import { PNG } from 'pngjs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalServer } from '../support/local-server.ts';
import { launchBrowser, screenshot, seriousViolations, startServer } from './support.ts';

let browser: Browser;
let server: LocalServer;
let anonKey: string;
const PASSWORD = 'correct horse battery';
/** A cheap phone's screen. */
const PHONE = { width: 360, height: 740 };

beforeAll(async () => {
  [browser, { server, anonKey }] = await Promise.all([launchBrowser(), startServer()]);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

interface Rider {
  readonly id: string;
  readonly email: string;
  /** Calls the user API as this rider (what the seeding uses; the pages use their own). */
  api(path: string, init?: RequestInit): Promise<Response>;
}

let addresses = 0;
/**
 * An address of its own for each phone and each sign-up: the local sign-in allows 10
 * attempts a minute per address (the last `X-Forwarded-For` entry), and this file signs in
 * more often than that.
 */
function address(): string {
  addresses += 1;
  return `192.0.2.${addresses}`;
}

/** A fresh user, signed up through the local Supabase Auth (one request: its session). */
async function rider(name: string): Promise<Rider> {
  const email = `${name}@example.com`;
  const response = await fetch(`${server.base}/auth/v1/signup`, {
    method: 'POST',
    headers: { apikey: anonKey, 'Content-Type': 'application/json', 'X-Forwarded-For': address() },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  expect(response.status).toBe(200);
  const { access_token: token, user: { id } } = await response.json() as {
    access_token: string;
    user: { id: string };
  };
  return {
    id,
    email,
    api: (path, init = {}) =>
      fetch(`${server.base}/functions/v1/api${path}`, {
        ...init,
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json',
          ...init.headers as Record<string, string>,
        },
      }),
  };
}

async function requestRide(user: Rider, pickup: string, dropoff: string): Promise<void> {
  const response = await user.api('/rides', {
    method: 'POST',
    headers: { 'Idempotency-Key': crypto.randomUUID() },
    body: JSON.stringify({ pickup, dropoff }),
  });
  expect(response.status).toBe(201);
}

/** A phone-sized browser context of its own (its own storage, service worker, address). */
async function phone(width = PHONE.width): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    viewport: { width, height: PHONE.height },
    extraHTTPHeaders: { 'X-Forwarded-For': address() },
  });
  return { context, page: await context.newPage() };
}

/** Fills a form's fields by their labels, in order, and presses its button. */
async function submit(page: Page, fields: Record<string, string>, button: string): Promise<void> {
  for (const [label, value] of Object.entries(fields)) await page.getByLabel(label).fill(value);
  await page.getByRole('button', { name: button }).click();
}

/** Signs in through the PWA's form (on whatever /app/ page is open). */
async function signIn(page: Page, user: Rider): Promise<void> {
  await submit(page, { Email: user.email, Password: PASSWORD }, 'Sign in');
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();
}

/** Whether the phone keeps a user API answer whose path ends with `suffix` (the worker's). */
function keptAnswer(page: Page, suffix: string, controlled = false): Promise<boolean> {
  return page.evaluate(async ({ suffix, controlled }) => {
    if (controlled && !navigator.serviceWorker.controller) return false;
    for (const name of await caches.keys()) {
      if (!name.startsWith('gatehouse-app-data-')) continue;
      const keys = await (await caches.open(name)).keys();
      if (keys.some((request) => new URL(request.url).pathname.endsWith(suffix))) return true;
    }
    return false;
  }, { suffix, controlled });
}

/** Waits until no list or section is loading. */
async function settled(page: Page): Promise<void> {
  await page.locator('.loading').first().waitFor({ state: 'detached' });
  await page.locator('[aria-busy="true"]').first().waitFor({ state: 'detached' });
}

describe('PWA manifest and service worker', () => {
  it('serves a valid manifest whose icons are the PNGs it declares', async () => {
    const response = await fetch(`${server.base}/app/manifest.webmanifest`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/manifest+json');
    const manifest = await response.json() as {
      name: string;
      short_name: string;
      start_url: string;
      scope: string;
      display: string;
      theme_color: string;
      background_color: string;
      icons: { src: string; sizes: string; type: string; purpose?: string }[];
      shortcuts: { name: string; url: string }[];
      share_target: { action: string; method: string; params: Record<string, string> };
    };
    expect(manifest).toMatchObject({
      name: 'Mobility hub',
      start_url: '/app/',
      scope: '/app/',
      display: 'standalone',
      share_target: {
        action: '/app/share',
        method: 'GET',
        params: { title: 'title', text: 'text', url: 'url' },
      },
    });
    expect(manifest.short_name.length).toBeGreaterThan(0);
    expect(manifest.short_name.length).toBeLessThanOrEqual(12);
    expect(manifest.theme_color).toMatch(/^#[0-9a-f]{6}$/i);
    expect(manifest.background_color).toMatch(/^#[0-9a-f]{6}$/i);
    // 192 and 512 pixels, each for purpose any and maskable.
    for (const size of ['192x192', '512x512']) {
      for (const purpose of ['any', 'maskable']) {
        expect(
          manifest.icons.some((icon) =>
            icon.sizes === size && (icon.purpose ?? 'any').split(' ').includes(purpose)
          ),
          `a ${size} icon for ${purpose}`,
        ).toBe(true);
      }
    }
    for (const icon of manifest.icons) {
      const answer = await fetch(new URL(icon.src, `${server.base}/app/`));
      expect(answer.status, icon.src).toBe(200);
      expect(answer.headers.get('content-type'), icon.src).toBe('image/png');
      expect(icon.type).toBe('image/png');
      const png = PNG.sync.read(Buffer.from(await answer.arrayBuffer()));
      expect(`${png.width}x${png.height}`, icon.src).toBe(icon.sizes);
    }
    expect(manifest.shortcuts.map((shortcut) => shortcut.name)).toEqual([
      'My rides',
      'My QR code',
    ]);
    for (const shortcut of manifest.shortcuts) {
      expect(shortcut.url.startsWith(manifest.scope)).toBe(true);
      const answer = await fetch(new URL(shortcut.url, server.base));
      expect(answer.status, shortcut.url).toBe(200);
      expect(answer.headers.get('content-type')).toContain('text/html');
    }

    // Chromium reads the manifest the page links without a complaint, and finds the app
    // installable (a manifest with icons, a service worker that handles fetches) but for
    // one thing: Playwright's browser contexts are off the record, which no page can change.
    const { context, page } = await phone();
    await page.goto(`${server.base}/app/`);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.evaluate(() => navigator.serviceWorker.ready);
    const cdp = await context.newCDPSession(page);
    const parsed = await cdp.send('Page.getAppManifest') as {
      url: string;
      errors: { message: string; critical: number }[];
    };
    expect(parsed.url).toBe(`${server.base}/app/manifest.webmanifest`);
    expect(parsed.errors).toEqual([]);
    await expect.poll(
      async () =>
        (await cdp.send('Page.getInstallabilityErrors')).installabilityErrors
          .map((error) => error.errorId)
          .filter((id) => id !== 'in-incognito'),
      { timeout: 10_000 },
    ).toEqual([]);
    await screenshot(page, 'pwa-sign-in');
    await context.close();
  });

  it('registers its service worker, which controls the page after a reload', async () => {
    const user = await rider('registered');
    const { context, page } = await phone();
    await page.goto(`${server.base}/app/`);
    await signIn(page, user);
    const registration = await page.evaluate(async () => {
      const ready = await navigator.serviceWorker.ready;
      return { scope: ready.scope, script: ready.active?.scriptURL ?? null };
    });
    expect(registration.scope).toBe(`${server.base}/app/`);
    expect(registration.script).toBe(
      `${server.base}/app/sw.js?api=${encodeURIComponent(`${server.base}/functions/v1/api`)}`,
    );
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'My rides' }).waitFor();
    expect(await page.evaluate(() => navigator.serviceWorker.controller?.scriptURL)).toBe(
      registration.script,
    );
    // The shell and the files it names are kept.
    const kept = await page.evaluate(async () => {
      const names = await caches.keys();
      const shell = names.find((name) => name.startsWith('gatehouse-app-shell-'));
      if (!shell) return [];
      const keys = await (await caches.open(shell)).keys();
      return keys.map((request) => new URL(request.url).pathname);
    });
    expect(kept).toContain('/app/');
    expect(kept).toContain('/config.json');
    expect(kept.some((path) => /^\/assets\/app-.*\.js$/.test(path))).toBe(true);
    expect(kept.some((path) => /^\/assets\/app-.*\.css$/.test(path))).toBe(true);
    await screenshot(page, 'pwa-registered');
    await context.close();
  });
});

describe('PWA offline', () => {
  it('reloads offline: the shell and the last rides, marked as old', async () => {
    const user = await rider('offline');
    await requestRide(user, 'Kencom bus stop', 'Westlands');
    await requestRide(user, 'Railway station', 'Upper Hill');
    const { context, page } = await phone();
    await page.goto(`${server.base}/app/`);
    await signIn(page, user);
    const rides = page.getByRole('list', { name: 'Your rides' });
    await rides.getByText('Railway station').waitFor();
    // The first visit's reads ran before the worker took over; it reads again through the
    // worker once it does. Wait for the rides to be kept.
    await expect.poll(() => keptAnswer(page, '/api/rides', true), { timeout: 15_000 }).toBe(true);
    expect(await page.locator('.stale').count()).toBe(0);

    await context.setOffline(true);
    await page.reload();
    await page.getByRole('navigation', { name: 'Sections' }).waitFor();
    await page.getByRole('heading', { level: 1, name: 'My rides' }).waitFor();
    await rides.getByText('Railway station').waitFor();
    await expect(rides.getByText('Kencom bus stop').count()).resolves.toBe(1);
    const stale = page.locator('.stale');
    await stale.waitFor();
    expect(await stale.textContent()).toMatch(/^Offline — showing data from .+\.$/);
    expect(await page.getByRole('status').filter({ hasText: 'You are offline' }).count())
      .toBe(1);
    await screenshot(page, 'pwa-offline');

    // Back online, a reload shows the live answer again.
    await context.setOffline(false);
    await page.reload();
    await rides.getByText('Railway station').waitFor();
    await settled(page);
    expect(await page.locator('.stale').count()).toBe(0);

    // Signing out deletes the answers kept on the phone.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(
      await page.evaluate(async () =>
        (await caches.keys()).filter((name) => name.startsWith('gatehouse-app-data-'))
      ),
    ).toEqual([]);
    await context.close();
  });
});

describe('PWA vehicles and payment code', () => {
  it('registers a vehicle (its plate twice is refused) and makes a QR code that dials', async () => {
    const user = await rider('driver');
    const { context, page } = await phone();
    await page.goto(`${server.base}/app/vehicles`);
    await signIn(page, user);
    await page.getByRole('heading', { level: 1, name: 'My vehicles' }).waitFor();
    await page.getByText('No vehicles yet').waitFor();
    await submit(page, {
      'Number plate': 'kda 417q',
      'Make (optional)': 'Toyota',
      'Seats (optional)': '4',
    }, 'Add vehicle');
    await page.getByText('Added KDA 417Q.').waitFor();
    const vehicles = page.getByRole('list', { name: 'Your vehicles' });
    await vehicles.getByText('KDA 417Q').waitFor();
    // The same plate again: refused at the field, nothing added.
    await submit(page, { 'Number plate': 'KDA 417Q' }, 'Add vehicle');
    await expect.poll(() => page.locator('#vehicle-error').textContent()).toBe(
      'You have a vehicle with the plate KDA 417Q already.',
    );
    expect(await page.getByLabel('Number plate').getAttribute('aria-invalid')).toBe('true');
    expect(
      await server.database!.db.query(
        'select plate, make, seats from vehicles where owner_user_id = $1',
        [user.id],
      ),
    ).toEqual([{ plate: 'KDA 417Q', make: 'Toyota', seats: 4 }]);

    await page.getByRole('navigation', { name: 'Sections' })
      .getByRole('link', { name: 'My QR code' }).click();
    await page.getByRole('heading', { level: 1, name: 'My QR code' }).waitFor();
    await page.getByText('You have no payment QR code yet').waitFor();
    await submit(page, {
      'USSD payment code': '*334*1*123456#',
      'Amount (optional)': '250',
      'Currency (optional)': 'kes',
    }, 'Make QR code');
    await page.getByText('Your new QR code is ready.').waitFor();
    const image = page.getByRole('img', { name: /^QR code: scanning it dials \*334\*1\*123456#/ });
    await image.waitFor();
    // The image the API drew has loaded, at its size.
    await expect.poll(() => image.evaluate((element) => (element as HTMLImageElement).naturalWidth))
      .toBeGreaterThan(0);
    expect(await page.getByRole('link', { name: 'Dial it on this phone' }).getAttribute('href'))
      .toBe('tel:*334*1*123456%23');
    expect(
      await server.database!.db.query(
        'select payload, amount_cents::int as amount_cents, currency from qr_generations where user_id = $1',
        [user.id],
      ),
    ).toEqual([{ payload: '*334*1*123456#', amount_cents: 25_000, currency: 'KES' }]);
    await screenshot(page, 'pwa-qr');
    await context.close();
  });

  it("shows the next user on the phone none of the last one's answers, online or off", async () => {
    const first = await rider('first-on-phone');
    const second = await rider('second-on-phone');
    const added = await first.api('/vehicles', {
      method: 'POST',
      headers: { 'Idempotency-Key': crypto.randomUUID() },
      body: JSON.stringify({ plate: 'KAA 111A' }),
    });
    expect(added.status).toBe(201);
    const { context, page } = await phone();
    await page.goto(`${server.base}/app/vehicles`);
    await signIn(page, first);
    await page.getByRole('list', { name: 'Your vehicles' }).getByText('KAA 111A').waitFor();
    const keptVehicles = () => keptAnswer(page, '/api/vehicles');
    await expect.poll(keptVehicles, { timeout: 15_000 }).toBe(true);
    // The session ends without a sign-out (it lapsed, or the phone was handed on): the first
    // user's answers are still kept when the next one signs in.
    await page.evaluate(() => localStorage.removeItem('gatehouse-app'));
    await page.goto(`${server.base}/app/`);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await keptVehicles()).toBe(true);

    await signIn(page, second);
    await page.getByRole('heading', { level: 1, name: 'My rides' }).waitFor();
    await settled(page);
    expect(await keptVehicles()).toBe(false);
    // Offline, My vehicles has nothing of the first user's to fall back on.
    await context.setOffline(true);
    await page.goto(`${server.base}/app/vehicles`);
    await page.getByRole('heading', { level: 1, name: 'My vehicles' }).waitFor();
    await settled(page);
    expect(await page.getByText('KAA 111A').count()).toBe(0);
    await context.close();
  });
});

describe('PWA sign-up', () => {
  it('creates an account from the sign-in page', async () => {
    const { context, page } = await phone();
    await page.goto(`${server.base}/app/vehicles`);
    await page.getByRole('button', { name: 'New here? Create an account' }).click();
    await page.getByRole('heading', { level: 1, name: 'Create an account' }).waitFor();
    await submit(page, { Email: 'newcomer@example.com', Password: PASSWORD }, 'Create account');
    await page.getByRole('heading', { level: 1, name: 'My vehicles' }).waitFor();
    await page.getByText('No vehicles yet').waitFor();
    const [user] = await server.database!.db.query<{ email: string }>(
      `select email from auth.users where email = 'newcomer@example.com'`,
    );
    expect(user).toEqual({ email: 'newcomer@example.com' });
    await screenshot(page, 'pwa-signed-up');
    await context.close();
  });
});

describe('PWA share target', () => {
  it('turns a shared Google Maps link into a ride for the signed-in user', async () => {
    const user = await rider('sharer');
    const { context, page } = await phone();
    const posts: Record<string, string>[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.url().endsWith('/api/rides')) {
        posts.push(request.headers());
      }
    });
    const shared = new URLSearchParams({
      title: 'Kencom',
      text: 'Pick me up here https://maps.google.com/?q=-1.2921,36.8219',
    });
    // Opened from the share sheet while signed out: sign in first, then the share goes on.
    await page.goto(`${server.base}/app/share?${shared}`);
    await page.getByText('Sign in to request a ride from the place you shared.').waitFor();
    await signIn(page, user);
    await page.getByRole('heading', { level: 1, name: 'Request a ride from here' }).waitFor();
    expect(await page.locator('#share-place').textContent()).toContain('-1.2921, 36.8219');
    expect(await page.getByLabel('Pickup').inputValue()).toBe('Kencom (-1.2921, 36.8219)');
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe(
      'dropoff',
    );
    await screenshot(page, 'pwa-share');
    await submit(page, { 'Drop-off': 'Westlands' }, 'Request ride');

    await page.getByText('Ride requested: Kencom (-1.2921, 36.8219) → Westlands.').waitFor();
    expect(new URL(page.url()).pathname).toBe('/app/');
    await page.getByRole('list', { name: 'Your rides' }).getByText('Kencom (-1.2921, 36.8219)')
      .waitFor();
    const rows = await server.database!.db.query<
      { passenger_user_id: string; pickup: string; dropoff: string; status: string }
    >(
      `select passenger_user_id, pickup, dropoff, status from public.rides
        where pickup like '%-1.2921, 36.8219%'`,
    );
    expect(rows).toEqual([{
      passenger_user_id: user.id,
      pickup: 'Kencom (-1.2921, 36.8219)',
      dropoff: 'Westlands',
      status: 'requested',
    }]);
    expect(posts).toHaveLength(1);
    expect(posts[0]!['idempotency-key']).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    await screenshot(page, 'pwa-share-done');

    // Plain coordinates work too; something that is no place says so and books nothing.
    await page.goto(`${server.base}/app/share?text=${encodeURIComponent('hello there')}`);
    const refusal = page.locator('#share-error');
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('No place was found');
    expect(await page.getByRole('button', { name: 'Request ride' }).count()).toBe(0);
    await screenshot(page, 'pwa-share-refused');
    await page.goto(`${server.base}/app/share?text=${encodeURIComponent('-1.2633, 36.8035')}`);
    expect(await page.getByLabel('Pickup').inputValue()).toBe('-1.2633, 36.8035');
    const [{ count }] = await server.database!.db.query<{ count: number }>(
      'select count(*)::int as count from public.rides where passenger_user_id = $1',
      [user.id],
    ) as [{ count: number }];
    expect(count).toBe(1);
    await context.close();
  });
});

describe('PWA accessibility and small screens', () => {
  it('has no serious axe violations on any view, at 360 px and on a wide screen', async () => {
    const user = await rider('axe');
    await requestRide(user, 'Kencom bus stop', 'Westlands');
    for (const width of [PHONE.width, 1280]) {
      const { context, page } = await phone(width);
      const check = async (name: string) => {
        await settled(page);
        expect(await seriousViolations(page), `${name} at ${width} px`).toEqual([]);
        const overflow = await page.evaluate(() =>
          document.documentElement.scrollWidth - document.documentElement.clientWidth
        );
        expect(overflow, `${name} at ${width} px scrolls sideways`).toBeLessThanOrEqual(0);
        await screenshot(page, `pwa-${name}-${width}`);
      };

      await page.goto(`${server.base}/app/`);
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      await check('sign-in');
      await signIn(page, user);
      const sections = page.getByRole('navigation', { name: 'Sections' });
      await page.getByRole('list', { name: 'Your rides' }).getByText('Kencom bus stop').waitFor();
      await check('rides');

      await sections.getByRole('link', { name: 'My vehicles' }).click();
      await page.getByRole('heading', { level: 1, name: 'My vehicles' }).waitFor();
      // The view change moves focus to its heading.
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('My vehicles');
      if (width === PHONE.width) {
        await page.getByText('No vehicles yet').waitFor();
        await submit(page, {
          'Number plate': 'kda 123a',
          'Make (optional)': 'Toyota',
          'Seats (optional)': '14',
        }, 'Add vehicle');
        await page.getByText('Added KDA 123A.').waitFor();
        // The same plate again: refused, said next to the form.
        await submit(page, { 'Number plate': 'KDA 123A' }, 'Add vehicle');
        await page.locator('#vehicle-error').getByText('plate KDA 123A already').waitFor();
      }
      await page.getByRole('list', { name: 'Your vehicles' }).getByText('KDA 123A').waitFor();
      await check('vehicles');

      await sections.getByRole('link', { name: 'My QR code' }).click();
      await page.getByRole('heading', { level: 1, name: 'My QR code' }).waitFor();
      if (width === PHONE.width) {
        await page.getByText('You have no payment QR code yet').waitFor();
        await submit(page, {
          'USSD payment code': '*334*1*123456#',
          'Amount (optional)': '250',
          'Currency (optional)': 'kes',
        }, 'Make QR code');
        await page.getByText('Your new QR code is ready.').waitFor();
      }
      const qr = page.getByRole('img', { name: /scanning it dials \*334\*1\*123456#/ });
      await qr.waitFor();
      await expect.poll(() => qr.evaluate((img: HTMLImageElement) => img.naturalWidth))
        .toBeGreaterThan(0);
      expect(await page.getByRole('link', { name: 'Dial it on this phone' }).getAttribute('href'))
        .toBe('tel:*334*1*123456%23');
      await check('qr');

      await page.goto(`${server.base}/app/share?url=${encodeURIComponent('geo:-1.29,36.82')}`);
      await page.getByLabel('Drop-off').waitFor();
      await check('share');
      await page.goto(`${server.base}/app/share?text=nowhere`);
      await page.locator('#share-error').waitFor();
      await check('share-refused');
      await context.close();
    }
    const [row] = await server.database!.db.query<{ amount_cents: string; currency: string }>(
      `select amount_cents::text, currency from public.qr_generations where user_id = $1`,
      [user.id],
    );
    expect(row).toEqual({ amount_cents: '25000', currency: 'KES' });
  });
});
