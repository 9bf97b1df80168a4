/**
 * From ack to processed: the deployed webhooks function kicks a worker pass after the
 * commit, so an accepted event is processed without waiting for cron; a held queue stays
 * held until its processing flag is back on.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createJobRunner } from '../functions/_shared/jobs/index.ts';
import { signStripe, signWhatsApp, whatsappNotification } from './support/webhooks/index.ts';
import { createWebhooksApp, createWebhooksFunction } from '../functions/webhooks/index.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { testRuntime } from './support/runtime.ts';
import { createIngestor } from '../functions/_shared/webhooks/ingest.ts';
import { kickWorker } from '../functions/webhooks/after-ack.ts';
import { NO_SHEDDING } from './support/ingest.ts';

const STRIPE_SECRET = 'whsec_kick_test_secret';
const APP_SECRET = 'kick-test-app-secret';
const config = parseConfig({
  STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
  WHATSAPP_APP_SECRET: APP_SECRET,
});

/** An event whose job ran once and completed. */
const PROCESSED = { event: 'processed', job: 'completed', attempts: 1 };

const database = useMigratedDatabase();
let tasks: Promise<unknown>[];
beforeEach(async () => {
  tasks = [];
  await database.db.exec(`update feature_flags set enabled = true`);
});

function runtime() {
  return testRuntime({
    config,
    db: database.db,
    logger: capturedLogger().logger,
    clock: systemClock,
    fetch,
    background: (task: Promise<unknown>) => void tasks.push(task),
  });
}

function postStripe(app: ReturnType<typeof createWebhooksFunction>, id: string) {
  const body = JSON.stringify({ id, object: 'event', type: 'charge.succeeded', data: {} });
  return app.request('/webhooks/stripe', {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      ...(signStripe(body, STRIPE_SECRET, Math.floor(Date.now() / 1000))),
    },
  });
}

async function stateOf(provider: string, key: string) {
  const [row] = await database.db.query<{ event: string; job: string; attempts: number }>(
    `select e.status as event, j.status as job, j.attempts
       from inbound_events e
       join jobs j on j.dedupe_key = 'inbound:' || e.provider || ':' || e.event_key
      where e.provider = $1 and e.event_key = $2`,
    [provider, key],
  );
  return row;
}

describe('the kick after the ack', () => {
  it('processes an accepted Stripe event before cron would', async () => {
    const app = createWebhooksFunction(runtime());
    const id = `evt_kick_${crypto.randomUUID()}`;
    const res = await postStripe(app, id);
    expect(await res.json()).toEqual({ status: 'accepted' });
    // The 200 went out after the commit, before the job ran.
    expect(tasks).toHaveLength(1);
    await Promise.all(tasks);
    expect(await stateOf('stripe', id)).toEqual(PROCESSED);
  });

  it("kicks the process's job engine when the runtime has one, as the local server's does", async () => {
    // The local server mounts every function in one process with one job engine: the kicks
    // must go to it, or they run beside the scheduler's passes with slots and a pace of
    // their own.
    const base = runtime();
    const engine = createJobRunner(base);
    let kicks = 0;
    const jobs = {
      workerId: engine.workerId,
      pass: engine.pass,
      kick: () => {
        kicks += 1;
        return engine.kick();
      },
    };
    const app = createWebhooksFunction({ ...base, jobs });
    const id = `evt_kick_${crypto.randomUUID()}`;
    expect(await (await postStripe(app, id)).json()).toEqual({ status: 'accepted' });
    await Promise.all(tasks);
    expect(kicks).toBe(1);
    expect(await stateOf('stripe', id)).toEqual(PROCESSED);
  });

  it('logs and processes a WhatsApp message in the same background step', async () => {
    const app = createWebhooksFunction(runtime());
    const wamid = `wamid.kick.${crypto.randomUUID()}`;
    const body = whatsappNotification([{ id: wamid, from: '15551230000', text: 'hello' }]);
    const res = await app.request('/webhooks/whatsapp', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...signWhatsApp(body, APP_SECRET) },
    });
    expect(res.status).toBe(200);
    await Promise.all(tasks);
    expect(await stateOf('whatsapp', wamid)).toMatchObject({
      event: 'processed',
      job: 'completed',
    });
    const logged = await database.db.query(
      'select body from whatsapp_logs where wa_message_id = $1',
      [
        wamid,
      ],
    );
    expect(logged).toEqual([{ body: 'hello' }]);
  });

  it('hands the background one kick for a burst of deliveries, not one each', async () => {
    // A promise per delivery waiting for the worker's pass would keep each delivery (its
    // parsed body, its request context) alive until the pass ends, seconds later.
    let calls = 0;
    const deployed = runtime();
    // As `createWebhooksFunction` wires it, with an ingestor that counts its commits.
    const app = createWebhooksApp({
      ...deployed,
      // Nothing shed: a burst's kicks are under test, not shedding (see NO_SHEDDING).
      ingestor: createIngestor(database.db, {
        onCall: () => void (calls += 1),
        overload: NO_SHEDDING,
      }),
      afterAck: kickWorker(createJobRunner(deployed).kick),
    });
    const ids = Array.from({ length: 20 }, (_, n) => `evt_burst_${n}_${crypto.randomUUID()}`);
    const answers = await Promise.all(ids.map((id) => postStripe(app, id)));
    expect(answers.map((res) => res.status)).toEqual(ids.map(() => 200));
    expect(tasks).toHaveLength(ids.length);
    // The first kick starts a pass; the deliveries of each commit then share the answer of
    // that pass's next claim: one promise per commit at most, besides the first.
    expect(new Set(tasks).size).toBeLessThanOrEqual(calls + 1);
    await Promise.all(tasks);
    for (const id of ids) {
      expect(await stateOf('stripe', id)).toEqual(PROCESSED);
    }
  });

  it('gives the kicks one claim answers one promise', async () => {
    const runner = createJobRunner(runtime());
    // The first kick starts a pass, which sends its first claim at once; the kicks after it
    // wait for the pass's next claim together.
    const kicks = Array.from({ length: 50 }, () => runner.kick());
    expect(new Set(kicks).size).toBe(2);
    await Promise.all(kicks);
  });

  it('acks a delivery whose after-ack work throws before returning a promise', async () => {
    const app = createWebhooksApp({
      ...runtime(),
      afterAck: () => {
        throw new Error('after-ack broke');
      },
    });
    const id = `evt_throws_${crypto.randomUUID()}`;
    expect(await (await postStripe(app, id)).json()).toEqual({ status: 'accepted' });
    expect(tasks).toHaveLength(1);
    await expect(tasks[0]).rejects.toThrow('after-ack broke');
    expect(await stateOf('stripe', id)).toEqual({ event: 'accepted', job: 'pending', attempts: 0 });
  });

  it('sends no kick for a duplicate', async () => {
    const app = createWebhooksFunction(runtime());
    const id = `evt_dup_${crypto.randomUUID()}`;
    await postStripe(app, id);
    await Promise.all(tasks.splice(0));
    expect(await (await postStripe(app, id)).json()).toEqual({ status: 'duplicate' });
    expect(tasks).toHaveLength(0);
  });

  it('holds the job while processing.stripe is off, and runs it once it is back on', async () => {
    await database.db.exec(
      `update feature_flags set enabled = false where key = 'processing.stripe'`,
    );
    const app = createWebhooksFunction(runtime());
    const id = `evt_held_${crypto.randomUUID()}`;
    expect((await postStripe(app, id)).status).toBe(200);
    await Promise.all(tasks);
    expect(await stateOf('stripe', id)).toEqual({ event: 'accepted', job: 'pending', attempts: 0 });

    await database.db.exec(
      `update feature_flags set enabled = true where key = 'processing.stripe'`,
    );
    const report = await createJobRunner(runtime()).pass();
    expect(report.completed).toBeGreaterThanOrEqual(1);
    expect(await stateOf('stripe', id)).toEqual(PROCESSED);
  });
});
