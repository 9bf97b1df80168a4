/**
 * The USSD callback end to end: the gate (path token and/or source addresses), the
 * synchronous CON/END answer, and what a ride request leaves in a real database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createPostgresDb } from '../functions/_shared/db/postgres.ts';
import { createFlagReader } from '../functions/_shared/flags/index.ts';
import { app as referenceApp } from '../functions/_app/index.ts';
import { NO_APP } from '../functions/_shared/app.ts';
import { createWebhooksApp, type WebhooksDeps } from '../functions/webhooks/index.ts';
import { countedIntake } from './support/intake-counters.ts';
import { type LocalServer, startLocalServer } from './support/local-server.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { freePort, type GatehouseProcess, waitForOutput } from './support/process.ts';

const TOKEN = 'ussd-token-new-0123456789';
const OLD_TOKEN = 'ussd-token-old-9876543210';
const GATEWAY_IP = '196.201.214.10';
const MAIN_MENU =
  'CON Gatehouse Mobility\n1. Request a ride\n2. My rides\n3. Pay with QR code\n0. Exit';

const database = useMigratedDatabase();

function app(env: Record<string, string>, overrides: Partial<WebhooksDeps> = {}) {
  const captured = capturedLogger();
  const subject = createWebhooksApp({
    config: parseConfig(env),
    db: database.db,
    logger: captured.logger,
    clock: systemClock,
    fetch,
    background: () => {},
    app: referenceApp,
    ...overrides,
  });
  return { app: subject, logs: captured };
}

const tokenGate = { USSD_PATH_TOKEN: `${TOKEN},${OLD_TOKEN}` };
const ipGate = { USSD_ALLOWED_IPS: '196.201.214.0/24,2001:db8::10' };

function form(fields: Partial<Record<string, string>> = {}): string {
  return new URLSearchParams({
    sessionId: 'ATUid_default',
    serviceCode: '*384*1234#',
    phoneNumber: '+254711000111',
    networkCode: '63902',
    text: '',
    ...fields,
  } as Record<string, string>).toString();
}

function post(
  subject: { request: (path: string, init: RequestInit) => Response | Promise<Response> },
  path: string,
  body: string,
  headers: Record<string, string> = {},
) {
  return subject.request(path, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });
}

let serial = 0;
function sessionId() {
  serial += 1;
  return `ATUid_${serial}_${crypto.randomUUID().slice(0, 8)}`;
}

async function stored(session: string) {
  return await database.db.query<{
    event_key: string;
    event_type: string;
    sender: string;
    pickup: string;
    jobs: number;
    kind: string | null;
    queue: string | null;
  }>(
    `select e.event_key, e.event_type, e.sender, e.payload #>> '{action,data,pickup}' as pickup,
            (select count(*)::int from jobs j where (j.payload->>'inbound_event_id')::bigint = e.id) as jobs,
            (select j.kind from jobs j where (j.payload->>'inbound_event_id')::bigint = e.id) as kind,
            (select j.queue from jobs j where (j.payload->>'inbound_event_id')::bigint = e.id) as queue
       from inbound_events e where e.provider = 'ussd' and e.event_key like $1 order by e.id`,
    [`${session}:%`],
  );
}

type App = ReturnType<typeof app>['app'];

describe('a USSD session through the token route', () => {
  let subject: App;
  beforeAll(() => {
    subject = app(tokenGate).app;
  });

  it('answers each step synchronously as text/plain CON or END', async () => {
    const session = sessionId();
    const first = await post(subject, `/webhooks/ussd/${TOKEN}`, form({ sessionId: session }));
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(first.headers.get('x-request-id')).toBeTruthy();
    expect(await first.text()).toBe(MAIN_MENU);

    const ride = await post(
      subject,
      `/webhooks/ussd/${OLD_TOKEN}`,
      form({ sessionId: session, text: '1' }),
    );
    expect(await ride.text()).toBe('CON Where should the driver pick you up?\n0. Back  00. Home');

    const exit = await post(subject, `/webhooks/ussd/${TOKEN}`, form({ text: '0' }));
    expect(await exit.text()).toBe('END Goodbye.');
    // Browsing writes nothing.
    expect(await stored(session)).toEqual([]);
  });

  it('tells every session there is no service when the app registered no USSD menu', async () => {
    const platformOnly = app(tokenGate, { app: NO_APP }).app;
    const session = sessionId();
    for (const text of ['', '1', '1*Kenyatta Ave stage']) {
      const res = await post(
        platformOnly,
        `/webhooks/ussd/${TOKEN}`,
        form({ sessionId: session, text }),
      );
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('END This service is not available.');
    }
    expect(await stored(session)).toEqual([]);
  });

  it('records a ride request durably, with one job, before answering END', async () => {
    const session = sessionId();
    const res = await post(
      subject,
      `/webhooks/ussd/${TOKEN}`,
      form({ sessionId: session, text: '1*Kenyatta Ave stage' }),
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(
      'END Your ride request (pickup: Kenyatta Ave stage) is recorded.',
    );
    expect(await stored(session)).toEqual([{
      event_key: `${session}:1*Kenyatta Ave stage`,
      event_type: 'ride_request',
      sender: '+254711000111',
      pickup: 'Kenyatta Ave stage',
      jobs: 1,
      kind: 'ussd.ride_request',
      queue: 'ussd',
    }]);
  });

  it('answers a gateway retry of the same step the same way, storing nothing new', async () => {
    const session = sessionId();
    const body = form({ sessionId: session, text: '1*Market' });
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => post(subject, `/webhooks/ussd/${TOKEN}`, body)),
    );
    const texts = await Promise.all(answers.map((res) => res.text()));
    expect(new Set(texts)).toEqual(
      new Set(['END Your ride request (pickup: Market) is recorded.']),
    );
    expect((await stored(session)).map((row) => row.jobs)).toEqual([1]);
  });

  it('answers within a second, recording steps included', async () => {
    for (const text of ['', '1', '1*Depot']) {
      const started = performance.now();
      const res = await post(subject, `/webhooks/ussd/${TOKEN}`, form({ text }));
      await res.text();
      expect(res.status).toBe(200);
      expect(performance.now() - started).toBeLessThan(1_000);
    }
  });
});

describe('the gate', () => {
  it('answers a wrong path token exactly like an unknown path, and never logs a token', async () => {
    const { app: subject, logs } = app(tokenGate);
    const wrong = await post(subject, `/webhooks/ussd/${TOKEN}x`, form());
    const unknown = await post(subject, '/webhooks/nothing-here', form());
    expect(wrong.status).toBe(404);
    expect(unknown.status).toBe(404);
    const strip = (body: Record<string, unknown>) => ({
      ...body,
      instance: undefined,
      request_id: undefined,
    });
    expect(strip(await wrong.json())).toEqual(strip(await unknown.json()));

    await post(subject, `/webhooks/ussd/${TOKEN}`, form());
    const lines = logs.lines.join('\n');
    expect(lines).not.toContain(TOKEN);
    const routes = logs.entries().filter((entry) => entry.msg === 'request')
      .map((entry) => [entry.route, entry.status, entry.reason]);
    expect(routes).toEqual([
      ['/webhooks/ussd/:token', 404, 'signature_mismatch'],
      ['unmatched', 404, undefined],
      ['/webhooks/ussd/:token', 200, undefined],
    ]);
  });

  it('refuses the contract path without the token when tokens are configured (401)', async () => {
    const res = await post(app(tokenGate).app, '/webhooks/ussd', form());
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('admits the contract path from an allowed address (last X-Forwarded-For entry)', async () => {
    const { app: subject } = app(ipGate);
    const ok = await post(subject, '/webhooks/ussd', form(), {
      'x-forwarded-for': `10.9.9.9, ${GATEWAY_IP}`,
    });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe(MAIN_MENU);
    const v6 = await post(subject, '/webhooks/ussd', form(), {
      'x-forwarded-for': '2001:db8:0:0:0:0:0:10',
    });
    expect(v6.status).toBe(200);
  });

  it('refuses other addresses with 403, a spoofed first X-Forwarded-For entry included', async () => {
    const { counters, counts } = countedIntake();
    const { app: subject, logs } = app(ipGate, { counters });
    const cases: Record<string, string>[] = [
      { 'x-forwarded-for': `${GATEWAY_IP}, 10.1.2.3` },
      { 'x-forwarded-for': '196.201.215.1' },
      {},
    ];
    for (const headers of cases) {
      const res = await post(subject, '/webhooks/ussd', form(), headers);
      expect(res.status).toBe(403);
    }
    // The token route does not exist without tokens.
    expect(
      (await post(subject, `/webhooks/ussd/${TOKEN}`, form(), { 'x-forwarded-for': GATEWAY_IP }))
        .status,
    ).toBe(404);
    expect(counts()).toEqual({
      'gatehouse_webhook_requests_total{provider="ussd"}': 4,
      'gatehouse_webhook_rejected_total{provider="ussd",reason="signature_mismatch"}': 3,
      'gatehouse_webhook_rejected_total{provider="ussd",reason="missing_header"}': 1,
    });
    const refused = logs.entries().filter((entry) => entry.status === 403)
      .map((entry) => entry.client_ip);
    expect(refused).toEqual(['10.1.2.3', '196.201.215.1', null]);
  });

  it('requires both the token and the address when both are configured', async () => {
    const { app: subject } = app({ ...tokenGate, ...ipGate });
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    expect((await post(subject, `/webhooks/ussd/${TOKEN}`, form(), from(GATEWAY_IP))).status)
      .toBe(200);
    expect((await post(subject, `/webhooks/ussd/${TOKEN}`, form(), from('10.0.0.1'))).status)
      .toBe(403);
    expect((await post(subject, '/webhooks/ussd', form(), from(GATEWAY_IP))).status).toBe(401);
  });

  it('fails closed with neither configured, and says so once at start', async () => {
    const { app: subject, logs } = app({});
    expect(logs.entries().filter((entry) => entry.provider === 'ussd')).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg:
          'ussd intake refuses every callback: neither USSD_PATH_TOKEN nor USSD_ALLOWED_IPS is set',
      }),
    ]);
    expect((await post(subject, '/webhooks/ussd', form())).status).toBe(401);
    expect((await post(subject, `/webhooks/ussd/${TOKEN}`, form())).status).toBe(401);
  });

  it('runs before anything else is read: a wrong token with a bad body is still 404', async () => {
    const res = await post(app(tokenGate).app, `/webhooks/ussd/not-the-token-000000`, '{}', {
      'content-type': 'application/json',
    });
    expect(res.status).toBe(404);
  });
});

describe('bad callbacks', () => {
  let subject: App;
  beforeAll(() => {
    subject = app(tokenGate).app;
  });
  const path = `/webhooks/ussd/${TOKEN}`;

  it('answers 415 for a content type other than form encoding', async () => {
    const res = await post(subject, path, JSON.stringify({ text: '' }), {
      'content-type': 'application/json',
    });
    expect(res.status).toBe(415);
  });

  it('answers 400 naming the missing or malformed fields', async () => {
    const res = await post(subject, path, 'sessionId=ATUid_1&phoneNumber=0711000111');
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.errors).toEqual([
      { field: 'serviceCode', message: 'is required' },
      { field: 'phoneNumber', message: 'must be + followed by 7 to 15 digits' },
      { field: 'networkCode', message: 'is required' },
      { field: 'text', message: 'is required' },
    ]);
  });

  it('answers 400 for a body that is not UTF-8', async () => {
    const bytes = new Uint8Array([...new TextEncoder().encode(form()), 0xff]);
    const res = await subject.request(path, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(400);
  });

  it('answers 413 above 16 KiB', async () => {
    const res = await post(subject, path, form({ text: 'x'.repeat(16 * 1024) }));
    expect(res.status).toBe(413);
  });

  it('answers 405 for a wrong method', async () => {
    expect((await subject.request(path)).status).toBe(405);
  });

  it('answers 503 while intake.ussd is switched off, then answers again', async () => {
    const flags = createFlagReader(database.db, { clock: systemClock, maxAgeMs: 0 });
    const { app: switched } = app(tokenGate, { flags });
    await database.db.query(`update feature_flags set enabled = false where key = 'intake.ussd'`);
    try {
      const off = await post(switched, path, form());
      expect(off.status).toBe(503);
      expect(off.headers.get('retry-after')).toBe('30');
    } finally {
      await database.db.query(`update feature_flags set enabled = true where key = 'intake.ussd'`);
    }
    expect(await (await post(switched, path, form())).text()).toBe(MAIN_MENU);
  });

  it('answers 503, never END, when a ride request cannot be stored', async () => {
    const gone = createPostgresDb({ url: `postgres://u@127.0.0.1:${await freePort()}/x`, max: 1 });
    // The switch is read from the working database; only the store is unreachable.
    const flags = createFlagReader(database.db, { clock: systemClock });
    const { app: broken } = app(tokenGate, { db: gone, flags });
    const res = await post(broken, path, form({ sessionId: sessionId(), text: '1*Depot' }));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBeTruthy();
    await gone.close(0);
  });
});

describe('USSD through npm start in development', () => {
  let server: LocalServer;
  let gatehouse: GatehouseProcess;
  let base: string;

  beforeAll(async () => {
    server = await startLocalServer({ USSD_PATH_TOKEN: '', USSD_ALLOWED_IPS: '' });
    ({ gatehouse, base } = server);
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('prints a generated path token that opens the callback URL', async () => {
    const token = /USSD_PATH_TOKEN=(\S+)/.exec(gatehouse.output())?.[1];
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const res = await fetch(`${base}/functions/v1/webhooks/ussd/${token}`, {
      method: 'POST',
      body: form({ sessionId: sessionId() }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(MAIN_MENU);
    // The request line names the route pattern, not the token (the banner printed it once).
    const output = await waitForOutput(gatehouse, '"route":"/webhooks/ussd/:token"');
    const afterBanner = output.split('Try it:')[1] ?? '';
    expect(afterBanner).toContain('"route":"/webhooks/ussd/:token"');
    expect(afterBanner).not.toContain(token!);
  });
});
