/**
 * The app room: the README's example ("Handle your own events"), taken from it as written, runs end to end through the hosts an adopter deploys (the webhooks function's
 * kick after the ack, and the worker function), on a real database.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatehouseApp } from '../functions/_shared/app.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { signStripe } from './support/webhooks/index.ts';
import { createWebhooksApp, createWebhooksFunction } from '../functions/webhooks/index.ts';
import { createWorkerFunction } from '../functions/worker/index.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { projectRoot } from './support/process.ts';
import { testRuntime } from './support/runtime.ts';

const STRIPE_SECRET = 'whsec_app_room_secret';
const SERVICE_KEY = 'app-room-service-key-0123456789abcdef';
const config = parseConfig({
  STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
  GATEHOUSE_SERVICE_KEY: SERVICE_KEY,
});
const database = useMigratedDatabase();

/** The TypeScript block of the README's "Handle your own events". */
async function guideExample(): Promise<string> {
  const readme = await readFile(join(projectRoot, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((part) => part.startsWith('Handle your own events'));
  const block = section?.match(/```ts\n([\s\S]*?)```/)?.[1];
  if (!block) throw new Error("the README's 'Handle your own events' has no TypeScript block");
  return block;
}

// The example, written where its imports resolve as they would from functions/_app/.
const folder = join(projectRoot, 'functions', '_app', `.example-${randomUUID().slice(0, 8)}`);
let example: GatehouseApp;

beforeAll(async () => {
  const source = (await guideExample()).replaceAll("from '../_shared/", "from '../../_shared/");
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'index.ts'), source);
  ({ app: example } = await import(join(folder, 'index.ts')));
  await database.db.exec(`
    create table public.orders (
      id bigint generated always as identity primary key,
      checkout_id text not null unique,
      paid_at timestamptz
    );
    alter table public.orders enable row level security;
  `);
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

function checkoutCompleted(checkoutId: string): string {
  return JSON.stringify({
    id: `evt_${randomUUID().replaceAll('-', '')}`,
    object: 'event',
    type: 'checkout.session.completed',
    data: { object: { id: checkoutId, object: 'checkout.session' } },
  });
}

function postStripe(webhooks: ReturnType<typeof createWebhooksApp>, body: string) {
  return webhooks.request('/webhooks/stripe', {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      ...signStripe(body, STRIPE_SECRET, Math.floor(Date.now() / 1000)),
    },
  });
}

async function order(checkoutId: string) {
  const [row] = await database.db.query<{ paid: boolean }>(
    'select paid_at is not null as paid from public.orders where checkout_id = $1',
    [checkoutId],
  );
  return row;
}

describe("the README's example", () => {
  it('marks the order paid from the job the kick after the ack runs', async () => {
    const tasks: Promise<unknown>[] = [];
    const runtime = testRuntime({
      config,
      db: database.db,
      logger: capturedLogger().logger,
      clock: systemClock,
      background: (task) => void tasks.push(task),
      app: example,
    });
    const checkout = `cs_test_${randomUUID()}`;
    await database.db.query('insert into public.orders (checkout_id) values ($1)', [checkout]);
    const res = await postStripe(createWebhooksFunction(runtime), checkoutCompleted(checkout));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'accepted' });
    await Promise.all(tasks);
    expect(await order(checkout)).toEqual({ paid: true });
  });

  it('dead-letters a checkout with no order, run by the worker function', async () => {
    const runtime = testRuntime({
      config,
      db: database.db,
      logger: capturedLogger().logger,
      clock: systemClock,
      app: example,
    });
    const checkout = `cs_test_${randomUUID()}`;
    // The intake without its kick: the job waits for the worker, as for cron on Supabase.
    const res = await postStripe(createWebhooksApp(runtime), checkoutCompleted(checkout));
    expect(res.status).toBe(200);
    const pass = await createWorkerFunction(runtime).request('/worker', {
      method: 'POST',
      headers: { authorization: `Bearer ${SERVICE_KEY}` },
    });
    expect(pass.status).toBe(200);
    expect(await pass.json()).toMatchObject({ dead: 1 });
    const dead = await database.db.query<{ last_error: string; status: string }>(
      `select d.last_error, e.status from dead_jobs d
         join inbound_events e on e.id = (d.payload ->> 'inbound_event_id')::bigint
        where e.payload #>> '{data,object,id}' = $1`,
      [checkout],
    );
    expect(dead).toEqual([
      { last_error: 'PermanentJobError: no order for this checkout', status: 'failed' },
    ]);
  });
});
