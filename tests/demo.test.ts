/**
 * `npm run demo` against the running local server (`gatehouse start`, the development
 * sandbox on): every step's report, read as a person reads it, and the plain answers when
 * the server is not there or the sandbox's port is taken.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from './support/local-server.ts';
import { freePort, runGatehouse } from './support/process.ts';

let server: LocalServer;
let sandboxPort: number;

/** The variables the server was started with that the demo reads too. */
function demoEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PORT: new URL(server.base).port,
    GATEHOUSE_DATA_DIR: server.dataDir,
    GATEHOUSE_SANDBOX_PORT: String(sandboxPort),
    ...(server.database ? { DATABASE_URL: server.database.url } : {}),
    ...extra,
  };
}

async function demo(env: Record<string, string>) {
  const run = runGatehouse(['demo'], env);
  const code = await run.exited;
  return { code, output: run.output() };
}

beforeAll(async () => {
  sandboxPort = await freePort();
  server = await startLocalServer({
    GATEHOUSE_SANDBOX: 'true',
    GATEHOUSE_SANDBOX_PORT: String(sandboxPort),
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

describe('npm run demo', () => {
  it('walks the app through every provider and says what happened at each step', async () => {
    const { code, output } = await demo(demoEnv());
    expect(output).toContain(`Sandbox on http://127.0.0.1:${sandboxPort}`);
    const steps = output.split(/\n(?=\d\. )/).slice(1);
    expect(steps.map((step) => step.split('\n')[0])).toEqual([
      '1. WhatsApp: the user says "hi"',
      '2. WhatsApp: a list reply, "Schedule a ride"',
      '3. WhatsApp: a shared location as the pickup',
      '4. WhatsApp: the destination, typed',
      '5. WhatsApp: a photo of a number plate',
      '6. Stripe: payment_intent.payment_failed for the ride (a declined card)',
      '7. PayPal: PAYMENT.CAPTURE.COMPLETED for the ride',
      '8. USSD: a session on *384*1#, "My rides"',
    ]);
    // Each delivery: acked, stored, its job run, and what the user got.
    for (const step of steps.slice(0, 7)) {
      expect(step).toMatch(/ {3}acked {5}200 accepted in \d+ ms \(request id [0-9a-f-]{36}\)/);
      expect(step).toMatch(/ {3}stored {4}event \d+: /);
      expect(step).toMatch(/ {3}job run {3}\S+ completed on attempt 1 of \d+/);
      expect(step).toMatch(/ {3}reply {5}(text|list|buttons) "/);
    }
    expect(steps[0]).toContain(
      'list "Hi Demo rider! What would you like to do?" [Schedule a ride, My rides, ' +
        'Register a vehicle, Pay / my QR, Help]',
    );
    expect(steps[1]).toContain('text "Where should we pick you up?');
    expect(steps[2]).toContain('text "Pickup: Kenyatta Avenue. And where to?');
    expect(steps[3]).toMatch(/ride {6}[0-9a-f-]{36} requested, payment unpaid/);
    expect(steps[4]).toContain('text "Got your photo. Reading the plate, one moment…"');
    expect(steps[4]).toContain('buttons "I read the plate KDA 417Q');
    expect(steps[4]).toMatch(/OCR {7}done: plate KDA 417Q, confidence 0\.\d+/);
    expect(steps[5]).toMatch(
      /payment {3}stripe pi_demo_\w+ failed \(Your card was declined\.\); ride payment failed/,
    );
    expect(steps[5]).toContain('did not go through (Your card was declined.)');
    expect(steps[6]).toMatch(/payment {3}paypal DEMO\w+ succeeded; ride payment paid/);
    expect(steps[6]).toContain('text "Payment received: 12.50 USD for your ride');
    expect(steps[7]).toContain('dial      200 CON Gatehouse Mobility | 1. Request a ride');
    expect(steps[7]).toContain('"2"       200 CON My rides | 1. Kenyatta');
    expect(steps[7]).toContain(
      '"2*1"     200 END Kenyatta Avenue > JKIA Terminal 1A: requested, payment paid.',
    );
    expect(output).toMatch(/demo done: 8 steps, each as expected, in \d+\.\d s/);
    expect(code).toBe(0);
  }, 150_000);

  it('says so when the sandbox port is taken, and exits 1', async () => {
    const taken = createServer();
    await new Promise<void>((ready) => taken.listen(sandboxPort, '127.0.0.1', ready));
    try {
      const { code, output } = await demo(demoEnv());
      expect(output).toContain(
        `the sandbox's port ${sandboxPort} is taken (another demo running?); ` +
          'set GATEHOUSE_SANDBOX_PORT to a free port for both the server and the demo',
      );
      expect(code).toBe(1);
    } finally {
      await new Promise<void>((done) => taken.close(() => done()));
    }
  }, 60_000);

  it('says so when no server is running, and exits 1', async () => {
    const nowhere = await freePort();
    const { code, output } = await demo(demoEnv({ PORT: String(nowhere) }));
    expect(output).toContain(`cannot reach http://127.0.0.1:${nowhere}`);
    expect(output).toContain('is the server running (npm start)?');
    expect(code).toBe(1);
  }, 60_000);

  it('refuses when WhatsApp is configured by hand, since replies would not reach it', async () => {
    const { code, output } = await demo(
      demoEnv({ WHATSAPP_GRAPH_URL: 'https://graph.facebook.com/v21.0' }),
    );
    expect(output).toContain('the demo needs the development sandbox for WhatsApp');
    expect(code).toBe(1);
  }, 60_000);
});
