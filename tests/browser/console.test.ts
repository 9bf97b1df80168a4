import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalServer } from '../support/local-server.ts';
import {
  createUser,
  launchBrowser,
  screenshot,
  seriousViolations,
  signIn,
  startServer,
} from './support.ts';

let browser: Browser;
let server: LocalServer;
let anonKey: string;
const PASSWORD = 'correct horse battery';

beforeAll(async () => {
  [browser, { server, anonKey }] = await Promise.all([launchBrowser(), startServer()]);
  await createUser(server, anonKey, 'admin@example.com', PASSWORD, 'admin');
  await createUser(server, anonKey, 'rider@example.com', PASSWORD);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function adminPage(width = 1280): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  await signIn(page, server.base, 'admin@example.com', PASSWORD);
  await expect(page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()).resolves
    .toBeUndefined();
  return page;
}

describe('console sign-in', () => {
  it('lets an admin in: the overview shows the status and the SLOs', async () => {
    const page = await adminPage();
    // The header's badge and the status line fill in once the overview answers.
    await expect.poll(() => page.locator('#platform-status').textContent()).toMatch(
      /^(ok|degraded)$/,
    );
    await page.getByRole('heading', { level: 2, name: 'Service level objectives' }).waitFor();
    await expect(page.locator('section.slo').count()).resolves.toBe(4);
    await expect(
      page.getByRole('navigation', { name: 'Console' }).getByRole('link').allTextContents(),
    )
      .resolves.toEqual([
        'Overview',
        'Events',
        'Jobs',
        'Dead letters',
        'Flags',
        'Outbound',
        'Audit log',
      ]);
    await screenshot(page, 'console-overview');
    await page.close();
  });

  it('refuses a plain user, saying why, and signs them out on request', async () => {
    const page = await browser.newPage();
    await signIn(page, server.base, 'rider@example.com', PASSWORD);
    await page.getByRole('heading', { name: 'Not allowed' }).waitFor();
    const alert = await page.getByRole('alert').first().textContent();
    expect(alert).toContain('rider@example.com');
    expect(alert).toContain('ops:read');
    await screenshot(page, 'console-refused');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.close();
  });

  it('says so when the password is wrong', async () => {
    const page = await browser.newPage();
    await signIn(page, server.base, 'admin@example.com', 'not the password');
    await expect(page.locator('#sign-in-error').filter({ hasText: 'Sign-in failed' }).waitFor())
      .resolves.toBeUndefined();
    await page.close();
  });
});

describe('flags', () => {
  it('toggles a flag in the database, and follows a change made in SQL', async () => {
    const page = await adminPage();
    await page.getByRole('link', { name: 'Flags' }).click();
    const card = page.locator('article.flag[data-key="intake.stripe"]');
    await card.waitFor();
    expect(await card.getAttribute('data-enabled')).toBe('true');
    await card.getByRole('switch').click();
    await page.getByRole('dialog').getByRole('button', { name: 'Switch off' }).click();
    await expect.poll(async () => {
      const [row] = await server.database!.db.query<{ enabled: boolean; updated_by: string }>(
        `select enabled, updated_by from feature_flags where key = 'intake.stripe'`,
      );
      return row;
    }, { timeout: 5_000 }).toMatchObject({ enabled: false });
    const [audit] = await server.database!.db.query<{ action: string }>(
      `select action from audit_logs where entity_id = 'intake.stripe' order by id desc limit 1`,
    );
    expect(audit?.action).toBe('feature_flag.update');

    await server.database!.db.query(
      `update feature_flags set rollout_percent = 40 where key = 'intake.stripe'`,
    );
    await expect.poll(() => card.getAttribute('data-rollout'), { timeout: 6_000 }).toBe('40');
    await expect(card.getByLabel('Rollout').inputValue()).resolves.toBe('40');
    await screenshot(page, 'console-flags');
    await page.close();
  });
});

describe('a slow database', () => {
  it('shows the outage in words, then recovers by itself', async () => {
    const page = await adminPage();
    await page.getByRole('heading', { level: 2, name: 'Service level objectives' }).waitFor();
    // A lock on the metrics table holds the overview's reads past the request deadline.
    const locker = server.database!.connect({ max: 1 });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const holding = locker.transaction(async (tx) => {
      await tx.query('lock table system_metrics in access exclusive mode');
      await released;
    });
    try {
      const alert = page.locator('section[aria-label="Status"] [role="alert"]');
      await alert.waitFor({ timeout: 20_000 });
      expect(await alert.textContent()).toContain('briefly unavailable');
      await expect(page.locator('#platform-status').textContent()).resolves.toBe('unreachable');
      await expect(alert.getByRole('button', { name: 'Try again' }).count()).resolves.toBe(1);
      await screenshot(page, 'console-outage');
    } finally {
      release();
      await holding;
    }
    // The next refresh (every 5 s) finds the database again.
    await page.getByRole('heading', { level: 2, name: 'Service level objectives' })
      .waitFor({ timeout: 15_000 });
    await expect(page.locator('section[aria-label="Status"] [role="alert"]').count()).resolves
      .toBe(0);
    await expect.poll(() => page.locator('#platform-status').textContent()).toMatch(
      /^(ok|degraded)$/,
    );
    await page.close();
  });
});

describe('accessibility and small screens', () => {
  it('has no serious axe violations on any page, at 360 px wide too', async () => {
    for (const width of [1280, 360]) {
      const page = await adminPage(width);
      for (
        const [link, heading] of [
          ['Overview', 'Overview'],
          ['Events', 'Events'],
          ['Jobs', 'Jobs'],
          ['Dead letters', 'Dead letters'],
          ['Flags', 'Flags'],
          ['Outbound', 'Outbound endpoints'],
          ['Audit log', 'Audit log'],
        ] as const
      ) {
        await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: link })
          .click();
        await page.getByRole('heading', { level: 1, name: heading }).waitFor();
        await page.locator('[aria-busy="true"]').first().waitFor({ state: 'detached' });
        expect(await seriousViolations(page), `${link} at ${width} px`).toEqual([]);
        // Nothing wider than the screen: the page never scrolls sideways.
        const overflow = await page.evaluate(() =>
          document.documentElement.scrollWidth - document.documentElement.clientWidth
        );
        expect(overflow, `${link} at ${width} px scrolls sideways`).toBeLessThanOrEqual(0);
        await screenshot(page, `console-${link.toLowerCase().replace(' ', '-')}-${width}`);
      }
      await page.close();
    }
  });
});
