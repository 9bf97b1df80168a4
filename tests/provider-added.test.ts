/**
 * Adding a provider: a module in a folder of its own (tests/fixtures/providers/acme, as an
 * adopter would write under functions/_shared/webhooks/) and one line in the providers
 * list. Its deliveries then take the same path as every provider's: verified, stored with
 * their jobs, and processed by the app.
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { hmacSha256, toHex } from '../functions/_shared/crypto/index.ts';
import { createJobRegistry, createJobRunner } from '../functions/_shared/jobs/index.ts';
import { PROVIDERS } from '../functions/_shared/webhooks/providers.ts';
import { createWebhooksApp } from '../functions/webhooks/index.ts';
import { webhookEndpoints } from '../functions/_shared/webhooks/providers.ts';
import { acme, ACME_SECRET, ACME_SIGNATURE_HEADER } from './fixtures/providers/acme/index.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const database = useMigratedDatabase();
const config = parseConfig({});
const providers = [...PROVIDERS, acme]; // the one line

function app() {
  return createWebhooksApp({
    config,
    db: database.db,
    logger: capturedLogger().logger,
    clock: systemClock,
    fetch,
    providers,
  });
}

function post(body: string, signature = toHex(hmacSha256(ACME_SECRET, body))) {
  return app().request('/webhooks/acme', {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', [ACME_SIGNATURE_HEADER]: signature },
  });
}

describe('a provider added with one line', () => {
  it("has its kinds run by the job registry every host builds, as the listed providers' are", () => {
    const platform = PROVIDERS.flatMap((provider) => provider.jobKinds);
    expect(platform).toContain('whatsapp.message');
    expect(createJobRegistry({ retentionDays: 7 }).kinds()).toEqual(
      expect.arrayContaining(platform),
    );
    expect(createJobRegistry({ retentionDays: 7, providers }).kinds()).toContain('acme.event');
  });

  it('is refused at start when it checks neither a signature nor its caller', () => {
    const unchecked = {
      ...acme,
      create: (context: Parameters<typeof acme.create>[0]) => {
        const { verify: _verify, ...rest } = acme.create(context);
        return rest;
      },
    };
    expect(() =>
      createWebhooksApp({
        config,
        db: database.db,
        logger: capturedLogger().logger,
        clock: systemClock,
        fetch,
        providers: [...PROVIDERS, unchecked],
      })
    ).toThrow('webhook provider at /acme has neither verify nor gate');
  });

  it('lists its URL with the others, as the start-up banner does', () => {
    expect(webhookEndpoints(config, providers).map((endpoint) => endpoint.path)).toEqual([
      '/whatsapp',
      '/stripe',
      '/paypal',
      '/standard/<source>',
      '/ussd',
      '/acme',
    ]);
  });

  it('stores a signed delivery with its job, which the app processes', async () => {
    const id = `acme_${crypto.randomUUID()}`;
    const body = JSON.stringify({ id, type: 'order.paid', data: { order: 42 } });
    const res = await post(body);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'accepted' });
    expect(await (await post(body)).json()).toEqual({ status: 'duplicate' });

    const handled: string[] = [];
    const registry = createJobRegistry({
      retentionDays: 7,
      providers,
      app: {
        name: 'shop',
        processors: { 'acme.event': (event) => Promise.resolve(void handled.push(event.eventKey)) },
      },
    });
    const runner = createJobRunner({
      config,
      db: database.db,
      logger: capturedLogger().logger,
      clock: systemClock,
      registry,
    });
    expect(await runner.pass()).toMatchObject({ claimed: 1, completed: 1 });
    expect(handled).toEqual([id]);
    const [event] = await database.db.query<{ status: string; event_type: string }>(
      `select status, event_type from inbound_events where provider = 'acme' and event_key = $1`,
      [id],
    );
    expect(event).toEqual({ status: 'processed', event_type: 'order.paid' });
  });

  it('refuses what its module refuses, as for every provider: 401, 400, 503 when off', async () => {
    const body = JSON.stringify({ id: `acme_${crypto.randomUUID()}`, type: 'order.paid' });
    expect((await post(body, '0'.repeat(64))).status).toBe(401);
    const missing = await app().request('/webhooks/acme', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(missing.status).toBe(401);
    expect((await post(JSON.stringify({ type: 'no id' }))).status).toBe(400);
    await database.db.query(
      `insert into feature_flags (key, enabled) values ('intake.acme', false)
       on conflict (key) do update set enabled = false`,
    );
    // A new instance reads the switch afresh (each caches its flags for a second).
    const off = await post(body);
    expect(off.status).toBe(503);
    expect(off.headers.get('retry-after')).toBe('30');
  });
});
