import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import axe from 'axe-core';
import type { Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.ts';
import { expect } from 'vitest';
import { type LocalServer, startLocalServer } from '../support/local-server.ts';
import { projectRoot } from '../support/process.ts';

/** Where each test's screenshots go (not committed). */
export const ARTIFACTS = join(projectRoot, 'tests', 'artifacts');

/** The tests' browser (Debian's Chromium, see ../support/chromium.ts). */
export const launchBrowser = launchChromium;

/** A server for one file, its anon key read from `/config.json` as the pages read it. */
export async function startServer(env: Record<string, string> = {}) {
  const server = await startLocalServer({ GATEHOUSE_METRICS_FLUSH_MS: '500', ...env });
  const config = await (await fetch(`${server.base}/config.json`)).json() as {
    supabase_anon_key: string;
  };
  return { server, anonKey: config.supabase_anon_key };
}

/** Signs a user up through the local Supabase Auth, then gives them `role` by SQL. */
export async function createUser(
  server: LocalServer,
  anonKey: string,
  email: string,
  password: string,
  role?: 'admin' | 'operator' | 'support',
): Promise<string> {
  const response = await fetch(`${server.base}/auth/v1/signup`, {
    method: 'POST',
    headers: { apikey: anonKey, 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  expect(response.status).toBe(200);
  const body = await response.json() as { user?: { id: string }; id?: string };
  const id = body.user?.id ?? body.id!;
  if (role) {
    await server.database!.db.query(
      `update auth.users set raw_app_meta_data = raw_app_meta_data || jsonb_build_object('role', $2::text)
        where id = $1::uuid`,
      [id, role],
    );
  }
  return id;
}

/** Signs in through the console's form and waits for the signed-in shell. */
export async function signIn(page: Page, base: string, email: string, password: string) {
  await page.goto(`${base}/`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/**
 * axe-core's WCAG 2.1 A/AA rules on the page as it is now; answers the serious and
 * critical violations, each as `rule: target (help)`.
 */
export async function seriousViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axe.source);
  const results = await page.evaluate(() =>
    (globalThis as unknown as { axe: typeof axe }).axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    })
  );
  return results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .flatMap((violation) =>
      violation.nodes.map((node) => `${violation.id}: ${node.target.join(' ')} (${violation.help})`)
    );
}
