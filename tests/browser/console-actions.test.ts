import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalServer } from '../support/local-server.ts';
import { signStandard, signStripe } from '../support/webhooks/index.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.ts';
import { createUser, launchBrowser, screenshot, signIn, startServer } from './support.ts';

const STRIPE_SECRET = 'whsec_console_browser_test';
const GITHUB_SECRET = `whsec_${Buffer.from('console-browser-github-secret!!').toString('base64')}`;
const PASSWORD = 'correct horse battery';
const SERVICE_KEY = 'console-browser-service-key-0123456789abcdef';
const STRIPE_EVENTS = 12;
const GITHUB_EVENTS = 5;

let browser: Browser;
let server: LocalServer;
let receiver: WebhookReceiver | undefined;

beforeAll(async () => {
  let anonKey: string;
  [browser, { server, anonKey }] = await Promise.all([
    launchBrowser(),
    startServer({
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      WEBHOOK_SECRET_GITHUB: GITHUB_SECRET,
      GATEHOUSE_SERVICE_KEY: SERVICE_KEY,
    }),
  ]);
  await createUser(server, anonKey, 'ops@example.com', PASSWORD, 'operator');
  // Known traffic: 12 Stripe events and 5 Standard Webhooks events from "github".
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < STRIPE_EVENTS; i += 1) {
    const body = JSON.stringify({
      id: `evt_console_${i}`,
      object: 'event',
      type: 'customer.created',
      created: now,
      data: { object: { id: `cus_${i}`, object: 'customer' } },
    });
    const res = await fetch(`${server.base}/functions/v1/webhooks/stripe`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...signStripe(body, STRIPE_SECRET, now) },
    });
    expect(res.status).toBe(200);
  }
  for (let i = 0; i < GITHUB_EVENTS; i += 1) {
    const body = JSON.stringify({ type: 'push', data: { ref: `refs/heads/b${i}` } });
    const res = await fetch(`${server.base}/functions/v1/webhooks/standard/github`, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        ...signStandard(`msg_console_${i}`, now, body, GITHUB_SECRET),
      },
    });
    expect(res.status).toBe(200);
  }
});

afterAll(async () => {
  await receiver?.close();
  await browser?.close();
  await server?.stop();
});

async function operatorPage(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(page, server.base, 'ops@example.com', PASSWORD);
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  return page;
}

describe('charts', () => {
  it('draw the intake by provider after known traffic', async () => {
    const page = await operatorPage();
    const intake = page.locator('figure', { hasText: 'Intake by provider' });
    // The overview redraws its charts every 10 s; metrics reach the database within 0.5 s.
    await expect.poll(() => intake.getAttribute('data-lines'), { timeout: 20_000 })
      .toMatch(/stripe/);
    expect((await intake.getAttribute('data-lines'))!.split(',').sort()).toEqual([
      'standard:github',
      'stripe',
    ]);
    await expect(intake.locator('canvas').count()).resolves.toBeGreaterThan(0);
    // The queue as the minute's alert evaluation sampled it (the server's worker schedules
    // it at start), over the chosen range, not only since the page opened.
    const queue = page.locator('figure', { hasText: 'Queue' });
    await expect.poll(() => queue.getAttribute('data-lines'), { timeout: 20_000 }).toBe(
      'due jobs,oldest due s',
    );
    // The summary read to screen readers gives each line's latest and highest value; the
    // latest may be a quiet minute begun since the traffic, the highest is the traffic: any
    // number but "0" (0.083 deliveries/s is five in a minute).
    const summary = await intake.locator('.visually-hidden').textContent();
    expect(summary).toMatch(/stripe: latest [\d.,]+ deliveries\/s, highest (?!0 )[\d.,]+ /);
    expect(summary).toMatch(
      /standard:github: latest [\d.,]+ deliveries\/s, highest (?!0 )[\d.,]+ /,
    );
    const latency = page.locator('figure', { hasText: 'Intake latency' });
    await expect.poll(() => latency.getAttribute('data-lines'), { timeout: 20_000 }).toBe(
      'p50,p99',
    );
    await screenshot(page, 'console-charts');
    await page.close();
  });
});

describe('events', () => {
  it('finds the Stripe events by provider and shows one with its payload and job', async () => {
    const page = await operatorPage();
    await page.getByRole('link', { name: 'Events' }).click();
    await page.getByLabel('Provider').fill('stripe');
    await page.getByRole('button', { name: 'Filter' }).click();
    const rows = page.getByRole('table', { name: 'Events' }).locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(STRIPE_EVENTS);
    await page.getByLabel('Key').fill('evt_console_3');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => rows.count()).toBe(1);
    await rows.first().getByRole('link').click();
    await page.getByRole('heading', { level: 1, name: /^Event \d+$/ }).waitFor();
    await expect(page.getByLabel('Event payload').textContent()).resolves.toContain('cus_3');
    await expect(
      page.getByRole('table', { name: 'Jobs of this event' }).locator('tbody tr').count(),
    )
      .resolves.toBe(1);
    await screenshot(page, 'console-event');
    await page.close();
  });
});

describe('dead letters', () => {
  it('replays a dead job after a confirmation, and the job completes', async () => {
    const db = server.database!.db;
    // A Stripe event's job, finished; moved to the dead letters as a worker moves a job that
    // failed its last attempt, so replaying it runs the event's processing again.
    const completedJob = () =>
      db.query<{ id: string }>(
        `select j.id from jobs j join inbound_events e on e.id = (j.payload->>'inbound_event_id')::bigint
          where e.event_key = 'evt_console_5' and j.status = 'completed'`,
      );
    await expect.poll(completedJob, { timeout: 15_000 }).toHaveLength(1);
    const [job] = await completedJob();
    const id = Number(job!.id);
    await db.transaction(async (tx) => {
      await tx.query(
        `insert into dead_jobs (id, queue, kind, payload, priority, attempts, max_attempts, errors,
                                last_error, dedupe_key, request_id, created_at)
         select id, queue, kind, payload, priority, 5, 5,
                '[{"attempt":5,"error":"upstream timed out","at":"2026-12-06T10:00:00Z"}]',
                'upstream timed out', null, request_id, created_at
           from jobs where id = $1`,
        [id],
      );
      await tx.query('delete from jobs where id = $1', [id]);
    });

    const page = await operatorPage();
    await page.getByRole('link', { name: 'Dead letters' }).click();
    const table = page.getByRole('table', { name: 'Dead letters' });
    await table.waitFor();
    await expect(table.locator('tbody tr').count()).resolves.toBe(1);
    await page.getByRole('button', { name: `Replay ${id}` }).click();
    const dialog = page.getByRole('dialog');
    await expect(dialog.getByRole('heading').textContent()).resolves.toBe(`Replay dead job ${id}?`);
    await dialog.getByRole('button', { name: 'Replay' }).click();
    await page.getByText('Replayed 1 job(s)').waitFor();
    await page.getByText('No dead letters').waitFor();

    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.getByLabel('Kind').fill('stripe.event');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('table', { name: 'Jobs' }).waitFor();
    await expect.poll(async () => {
      const [row] = await db.query<{ status: string; attempts: number }>(
        'select status, attempts from jobs where id = $1',
        [id],
      );
      return row;
    }, { timeout: 15_000 }).toMatchObject({ status: 'completed' });
    await page.goto(`${server.base}/#/jobs/${id}`);
    await expect.poll(() => page.locator('dl.facts .badge').first().textContent(), {
      timeout: 5_000,
    })
      .toBe('completed');
    const [audit] = await db.query<{ actor: string }>(
      `select actor from audit_logs where action = 'job.replay' and entity_id = $1`,
      [String(id)],
    );
    expect(audit?.actor).toMatch(/^[0-9a-f-]{36}$/);
    await screenshot(page, 'console-replayed-job');
    await page.close();
  });
});

describe('outbound endpoints', () => {
  it('sends a test event and rotates the secret from the console, each audited', async () => {
    receiver = await startWebhookReceiver();
    const created = await fetch(`${server.base}/functions/v1/admin/webhooks/endpoints`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SERVICE_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: receiver.url, event_types: ['*'], description: 'ERP' }),
    });
    expect(created.status).toBe(201);
    const endpoint = await created.json() as { id: string; secret: string };
    receiver.secrets = [endpoint.secret];

    const page = await operatorPage();
    await page.getByRole('link', { name: 'Outbound' }).click();
    await page.getByRole('link', { name: receiver.url }).click();
    await page.getByRole('heading', { level: 2, name: 'Health' }).waitFor();

    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Send' }).click();
    await page.getByText(/Test event queued as message \d+/).waitFor();
    // The worker delivers it, signed with the endpoint's secret.
    await expect.poll(() => receiver!.received.map((r) => r.type), { timeout: 15_000 })
      .toEqual(['webhook.test']);
    expect(receiver.rejected).toEqual([]);

    await page.getByRole('button', { name: 'Rotate secret' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Rotate' }).click();
    const secret = await page.locator('.secret code').textContent();
    expect(secret).toMatch(/^whsec_/);
    expect(secret).not.toBe(endpoint.secret);

    // The deliveries table shows the attempt.
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() =>
      page.getByRole('table', { name: 'Delivery attempts' }).locator('tbody tr').count()
    ).toBe(1);

    const actions = await server.database!.db.query<{ action: string; actor: string }>(
      `select action, actor from audit_logs where entity_id = $1 order by id`,
      [endpoint.id],
    );
    // Created by the service key; then, by the operator: the test event and the rotation
    // (a new secret, and the old one's expiry set).
    const test = actions.findIndex((row) => row.action === 'webhook_endpoint.test_event');
    expect(actions.slice(0, test).map((row) => row.actor)).not.toContain(actions[test]?.actor);
    expect(actions.slice(test).map((row) => row.action).sort()).toEqual([
      'webhook_endpoint.secret_added',
      'webhook_endpoint.secret_changed',
      'webhook_endpoint.test_event',
    ]);
    expect(actions.slice(test).every((row) => /^[0-9a-f-]{36}$/.test(row.actor))).toBe(true);
    await screenshot(page, 'console-outbound-endpoint');
    await page.close();
  });

  it('creates an endpoint from the console, its secret shown once; a refused one says why', async () => {
    const url = 'http://127.0.0.1:9/hooks/made-in-console';
    const page = await operatorPage();
    await page.getByRole('link', { name: 'Outbound' }).click();
    await page.getByText('New endpoint', { exact: true }).click();
    const form = page.getByRole('form', { name: 'New endpoint' });

    // Refused by the API (credentials in the URL): the form says which field and why.
    await form.getByLabel('URL', { exact: true }).fill('http://user:pw@127.0.0.1:9/hooks');
    await form.getByRole('button', { name: 'Create endpoint' }).click();
    await expect.poll(() => form.locator('.form-error').textContent()).toMatch(/^url: .+/);
    // A pattern the API does not take: named by its place in the list.
    await form.getByLabel('URL', { exact: true }).fill(url);
    await form.getByLabel(/^Event types/).fill('ride.*, not a pattern!');
    await form.getByRole('button', { name: 'Create endpoint' }).click();
    await expect.poll(() => form.locator('.form-error').textContent()).toMatch(/event_types/);
    expect(
      await server.database!.db.query('select id from webhook_endpoints where url like $1', [
        '%made-in-console',
      ]),
    ).toEqual([]);

    await form.getByLabel(/^Event types/).fill('ride.*, payment.succeeded');
    await form.getByLabel(/^Description/).fill('made in the console');
    await form.getByRole('button', { name: 'Create endpoint' }).click();
    const secret = await page.locator('.secret code').textContent();
    expect(secret).toMatch(/^whsec_/);
    await expect.poll(() => form.locator('.form-error').textContent()).toBe('');
    // Listed, and the link opens it.
    await page.getByRole('link', { name: url }).waitFor();
    await screenshot(page, 'console-outbound-created');
    const [row] = await server.database!.db.query<
      { id: string; event_types: string[]; description: string; status: string }
    >(
      `select id::text as id, event_types, description, status from webhook_endpoints
        where url = $1`,
      [url],
    );
    expect(row).toMatchObject({
      event_types: ['ride.*', 'payment.succeeded'],
      description: 'made in the console',
      status: 'active',
    });
    const audit = await server.database!.db.query<{ action: string; actor: string }>(
      `select action, actor from audit_logs where entity_id = $1 order by id`,
      [row!.id],
    );
    expect(audit.map((entry) => entry.action)).toEqual([
      'webhook_endpoint.insert',
      'webhook_endpoint.secret_added',
    ]);
    expect(audit.every((entry) => /^[0-9a-f-]{36}$/.test(entry.actor))).toBe(true);
    await page.getByRole('link', { name: 'Open the new endpoint' }).click();
    await page.getByRole('heading', { level: 2, name: 'Health' }).waitFor();
    await page.close();
  });
});

describe('the front page', () => {
  it('names a provider whose deliveries fail their signature, and why', async () => {
    // Stripe deliveries signed with another secret, more than the good ones sent before: the
    // pattern of a secret rotated on one side only.
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < STRIPE_EVENTS + 3; i += 1) {
      const body = JSON.stringify({ id: `evt_forged_${i}`, object: 'event', type: 'x.y' });
      const res = await fetch(`${server.base}/functions/v1/webhooks/stripe`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          ...signStripe(body, 'whsec_not_the_configured_one', now),
        },
      });
      expect(res.status).toBe(401);
    }
    const page = await operatorPage();
    const status = page.locator('.status-line');
    // The overview reads the counts every 5 s; the server flushes them within the second.
    await expect.poll(() => status.locator('.check', { hasText: 'webhooks' }).textContent(), {
      timeout: 20_000,
    }).toBe(
      `webhooks degraded stripe: ${STRIPE_EVENTS + 3} of ${
        2 * STRIPE_EVENTS + 3
      } deliveries refused for their signature: check the secret`,
    );
    await page.close();
  });
});
