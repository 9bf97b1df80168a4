/**
 * The app's feature flags: declared in `GatehouseApp.flags`, written to `feature_flags` by
 * `gatehouse migrate` (and `npm start`) without touching an operator's row, and read by the
 * app's processors through `ctx.flags`, the declared default answering until a row exists.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GatehouseApp } from '../functions/_shared/app.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { registerFlags } from '../functions/_shared/flags/index.ts';
import { createJobRunner } from '../functions/_shared/jobs/index.ts';
import { createWebhooksApp } from '../functions/webhooks/index.ts';
import { runMigrateCommand } from '../cli/migrate-command.ts';
import { createTestDatabase } from './support/database.ts';
import { capturedLogger } from './support/logs.ts';
import { projectRoot } from './support/process.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { testRuntime } from './support/runtime.ts';
import { signStripe } from './support/webhooks/index.ts';

const STRIPE_SECRET = 'whsec_app_flags_secret';
const config = parseConfig({ STRIPE_WEBHOOK_SECRET: STRIPE_SECRET });
const database = useMigratedDatabase({ reset: 'delete from feature_flags;' });

type Row = { key: string; enabled: boolean; description: string | null };
const flagRows = () =>
  database.db.query<Row>('select key, enabled, description from feature_flags order by key');

describe('registerFlags', () => {
  const flags = {
    'orders.autopay': { description: 'Mark orders paid from Stripe checkouts' },
    'orders.refunds': { description: 'Refund from the console', enabled: false },
  };

  it("adds the rows the table lacks, with each flag's default and description", async () => {
    expect(await registerFlags(database.db, flags)).toEqual(['orders.autopay', 'orders.refunds']);
    expect(await flagRows()).toEqual([
      { key: 'orders.autopay', enabled: true, description: flags['orders.autopay'].description },
      { key: 'orders.refunds', enabled: false, description: flags['orders.refunds'].description },
    ]);
    // A second run adds nothing.
    expect(await registerFlags(database.db, flags)).toEqual([]);
  });

  it("never overwrites an operator's choice", async () => {
    await database.db.query(
      `insert into feature_flags (key, enabled, description) values ('orders.autopay', false, 'ops')`,
    );
    expect(await registerFlags(database.db, flags)).toEqual(['orders.refunds']);
    expect((await flagRows())[0]).toEqual({
      key: 'orders.autopay',
      enabled: false,
      description: 'ops',
    });
  });

  it('refuses a key the table would refuse, or a flag without a description', async () => {
    await expect(registerFlags(database.db, { 'Orders Paid': { description: 'x' } }))
      .rejects.toThrow(/app flag "Orders Paid": keys are lower-case/);
    await expect(registerFlags(database.db, { 'orders.x': { description: ' ' } }))
      .rejects.toThrow('app flag "orders.x": a description is required');
    expect(await flagRows()).toEqual([]);
  });
});

describe('ctx.flags in a processor', () => {
  it("answers the app's default until a row says otherwise", async () => {
    const seen: boolean[] = [];
    const app: GatehouseApp = {
      name: 'flags-test',
      flags: { 'orders.autopay': { description: 'Mark orders paid', enabled: false } },
      processors: {
        'stripe.event': async (_event, ctx) => {
          seen.push(await ctx.flags.isEnabled('orders.autopay'));
        },
      },
    };
    const runtime = testRuntime({
      config,
      db: database.db,
      logger: capturedLogger().logger,
      clock: systemClock,
      app,
    });
    const deliverAndRun = async () => {
      const body = JSON.stringify({ id: `evt_${randomUUID()}`, type: 'charge.succeeded' });
      const res = await createWebhooksApp(runtime).request('/webhooks/stripe', {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          ...signStripe(body, STRIPE_SECRET, Math.floor(Date.now() / 1000)),
        },
      });
      expect(res.status).toBe(200);
      // A new runner: a new flags snapshot, as a new worker pass on Supabase has.
      expect(await createJobRunner(runtime).pass()).toMatchObject({ completed: 1 });
    };

    await deliverAndRun();
    await database.db.query(
      `insert into feature_flags (key, enabled) values ('orders.autopay', true)`,
    );
    await deliverAndRun();
    expect(seen).toEqual([false, true]);
  });
});

describe('gatehouse migrate', () => {
  it("adds the app's flags after the migrations, and says so", async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'gatehouse-app-flags-'));
    const fresh = process.env.TEST_DATABASE_URL ? await createTestDatabase() : undefined;
    const env = {
      GATEHOUSE_DATA_DIR: scratch,
      GATEHOUSE_EMBEDDED_DB_PORT: '0',
      ...(fresh ? { DATABASE_URL: fresh.url } : {}),
    };
    const app: GatehouseApp = {
      name: 'flags-test',
      flags: { 'orders.autopay': { description: 'Mark orders paid from Stripe checkouts' } },
    };
    const migrate = async () => {
      const lines: string[] = [];
      const code = await runMigrateCommand([], {
        env,
        projectRoot,
        app,
        print: (line) => lines.push(line),
      });
      return { code, last: lines.at(-1) };
    };
    try {
      expect(await migrate()).toEqual({ code: 0, last: 'app flags: added orders.autopay' });
      expect(await migrate()).toEqual({
        code: 0,
        last: 'app flags: all 1 already in feature_flags',
      });
    } finally {
      await fresh?.drop();
      await rm(scratch, { recursive: true, force: true });
    }
  });
});
