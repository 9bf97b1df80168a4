import { describe, expect, it } from 'vitest';
import { capturedLogger } from '../../../tests/support/logs.ts';
import { admissionGate, createAdmission, SHED_RETRY_AFTER_SECONDS } from './admission.ts';
import { createFunctionApp } from './app.ts';
import { DRAIN_MAX_BYTES, DRAIN_TIMEOUT_MS } from './unread-body.ts';

const BODY_LIMIT = 1024 * 1024;

/** An app whose `/gate/hold` answers only when the test lets it: requests stay in flight. */
function gatedApp(caps: { maxInFlight: number; maxBufferedBytes: number }) {
  const admission = createAdmission(caps);
  const logs = capturedLogger();
  const app = createFunctionApp('gate', {
    logger: logs.logger,
    corsOrigins: [],
    bodyLimitBytes: BODY_LIMIT,
    admission,
  });
  const waiting: (() => void)[] = [];
  let entered = 0;
  app.post('/hold', async (c) => {
    entered += 1;
    await new Promise<void>((resolve) => waiting.push(resolve));
    return c.json({ status: 'done' });
  });
  app.post('/read', async (c) => c.json({ bytes: (await c.req.arrayBuffer()).byteLength }));
  return {
    app,
    admission,
    logs,
    entered: () => entered,
    releaseAll: () => waiting.splice(0).forEach((release) => release()),
  };
}

/** A body that counts how often it is pulled: zero means nobody read it. */
function countedBody(text: string) {
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled += 1;
      controller.enqueue(new TextEncoder().encode(text));
      controller.close();
    },
  }, { highWaterMark: 0 }); // pulled only when someone reads
  return { stream, pulls: () => pulled };
}

/**
 * Holds the one place in flight, then posts `body` (declared 2 KiB) to be shed at the door;
 * the held request answers once the test calls `gate.releaseAll()`.
 */
async function shedWhileOneIsHeld(body: ReadableStream<Uint8Array>) {
  const gate = gatedApp({ maxInFlight: 1, maxBufferedBytes: 8 * BODY_LIMIT });
  const held = gate.app.request('/gate/hold', { method: 'POST' });
  await until(() => gate.entered() === 1);
  const shed = await gate.app.request('/gate/read', {
    method: 'POST',
    body,
    headers: { 'content-length': String(2 * 1024) },
    duplex: 'half',
  } as RequestInit);
  return { gate, shed, held };
}

async function until(condition: () => boolean) {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in 5 s');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

describe('admission control', () => {
  it('sheds the request beyond the in-flight cap with 503, Retry-After and a problem body', async () => {
    const gate = gatedApp({ maxInFlight: 2, maxBufferedBytes: 8 * BODY_LIMIT });
    const held = [1, 2].map(() => gate.app.request('/gate/hold', { method: 'POST' }));
    await until(() => gate.entered() === 2);
    const shed = await gate.app.request('/gate/hold', {
      method: 'POST',
      headers: { 'X-Request-Id': 'shed-1' },
    });
    expect(shed.status).toBe(503);
    expect(shed.headers.get('retry-after')).toBe(String(SHED_RETRY_AFTER_SECONDS));
    expect(shed.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(await shed.json()).toMatchObject({
      status: 503,
      detail: 'The server is at capacity. Retry later.',
      request_id: 'shed-1',
    });
    expect(gate.entered()).toBe(2); // the handler never ran for it
    expect(shed.headers.get('x-request-id')).toBe('shed-1');
    expect(shed.headers.get('x-content-type-options')).toBe('nosniff');
    // Not logged one by one: the tally comes as one warning (see the next test).
    expect(gate.logs.entries().find((entry) => entry.request_id === 'shed-1')).toBeUndefined();

    gate.releaseAll();
    for (const res of await Promise.all(held)) expect(res.status).toBe(200);
    expect(gate.admission.stats()).toMatchObject({ inFlight: 0, bufferedBytes: 0 });
    // Room again: the next request is served.
    const next = gate.app.request('/gate/hold', { method: 'POST' });
    await until(() => gate.entered() === 3);
    gate.releaseAll();
    expect((await next).status).toBe(200);
    expect(gate.admission.stats().shed).toEqual({ inFlight: 1, bytes: 0 });
  });

  it('tallies refusals in one warning per interval instead of a line each', async () => {
    const admission = createAdmission({ maxInFlight: 1, maxBufferedBytes: 1024 });
    const logs = capturedLogger();
    const gate = admissionGate(admission, {
      bodyLimitBytes: 1024,
      logger: logs.logger,
      functionName: 'webhooks',
      summaryEveryMs: 20,
    });
    let release = () => {};
    const held = gate(
      new Request('http://x/webhooks/a', { method: 'POST' }),
      () => new Promise<Response>((done) => (release = () => done(new Response('ok')))),
      () => '/webhooks/a',
    );
    const refused = await Promise.all([1, 2, 3].map(() =>
      gate(
        new Request('http://x/webhooks/a', { method: 'POST' }),
        () => new Response('never'),
        () => '/webhooks/a',
      )
    ));
    expect(refused.map((res) => res.status)).toEqual([503, 503, 503]);
    expect(await refused[0]!.json()).toMatchObject({ status: 503, instance: '/webhooks/a' });
    await until(() =>
      logs.entries().some((entry) => String(entry.msg).startsWith('requests shed'))
    );
    const lines = logs.entries().filter((entry) => String(entry.msg).startsWith('requests shed'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      function: 'webhooks',
      shed: 3,
      in_flight: 3,
      body_bytes: 0,
    });
    release();
    expect((await held).status).toBe(200);
    expect(admission.stats()).toMatchObject({ inFlight: 0, shed: { inFlight: 3, bytes: 0 } });
  });

  it('sheds before the handler, reads and drops a small body, and keeps the connection', async () => {
    const { stream, pulls } = countedBody('s'.repeat(2 * 1024));
    const { gate, shed, held } = await shedWhileOneIsHeld(stream);
    expect(shed.status).toBe(503);
    expect(gate.entered()).toBe(1); // the route never ran
    expect(pulls()).toBe(1); // read to its end and dropped, so the connection can go on
    expect(shed.headers.get('connection')).toBeNull();
    gate.releaseAll();
    expect((await held).status).toBe(200);
  });

  it('gives up on a shed body that stops arriving and says the connection closes', async () => {
    // Declares 2 KiB, sends one chunk of it, then nothing: a slow or stalled client.
    let pulled = 0;
    const stalled = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        if (pulled === 1) controller.enqueue(new TextEncoder().encode('s'.repeat(512)));
        return new Promise(() => {}); // the rest never comes
      },
    }, { highWaterMark: 0 });
    const started = performance.now();
    const { gate, shed, held } = await shedWhileOneIsHeld(stalled);
    const waitedMs = performance.now() - started;
    expect(shed.status).toBe(503);
    expect(pulled).toBeGreaterThan(0); // it was being read
    expect(shed.headers.get('connection')).toBe('close');
    // Answered once the drain's deadline passed, not before and not long after.
    expect(waitedMs).toBeGreaterThanOrEqual(DRAIN_TIMEOUT_MS - 5);
    expect(waitedMs).toBeLessThan(DRAIN_TIMEOUT_MS + 2_000);
    gate.releaseAll();
    expect((await held).status).toBe(200);
  });

  it('sheds a body that would take the process over its byte budget, without reading it', async () => {
    const big = DRAIN_MAX_BYTES + 1024;
    const gate = gatedApp({ maxInFlight: 100, maxBufferedBytes: big + 1024 });
    const body = 'x'.repeat(big);
    const held = gate.app.request('/gate/hold', {
      method: 'POST',
      body,
      headers: { 'content-length': String(body.length) },
    });
    await until(() => gate.entered() === 1);
    expect(gate.admission.stats().bufferedBytes).toBe(big);
    const { stream, pulls } = countedBody(body);
    const shed = await gate.app.request('/gate/read', {
      method: 'POST',
      body: stream,
      headers: { 'content-length': String(body.length) },
      duplex: 'half',
    } as RequestInit);
    expect(shed.status).toBe(503);
    expect(pulls()).toBe(0); // not one byte of it was read
    expect(shed.headers.get('connection')).toBe('close'); // the client knows to reconnect
    expect(gate.admission.stats().shed.bytes).toBe(1);
    // A body-less request still fits.
    expect((await gate.app.request('/gate/nothing')).status).toBe(404);
    gate.releaseAll();
    expect((await held).status).toBe(200);
    expect(gate.admission.stats().bufferedBytes).toBe(0);
  });

  it('admits a lone body larger than the byte budget (the body limit judges it)', async () => {
    const gate = gatedApp({ maxInFlight: 10, maxBufferedBytes: 1024 });
    const body = 'y'.repeat(4 * 1024);
    const res = await gate.app.request('/gate/read', {
      method: 'POST',
      body,
      headers: { 'content-length': String(body.length) },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ bytes: body.length });
  });

  it('counts a streamed body of unknown length as the body limit', async () => {
    const gate = gatedApp({ maxInFlight: 10, maxBufferedBytes: BODY_LIMIT + 10 });
    const held = gate.app.request('/gate/hold', {
      method: 'POST',
      body: 'z',
      headers: { 'transfer-encoding': 'chunked' },
    });
    await until(() => gate.entered() === 1);
    expect(gate.admission.stats().bufferedBytes).toBe(BODY_LIMIT);
    gate.releaseAll();
    await held;
  });
});
