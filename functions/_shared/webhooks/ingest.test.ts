/**
 * The micro-batching ingestor against a real database: group commit (requests that arrive
 * while a call is in flight share the next call), and ingest_events' sender buckets staying
 * exact when separate ingestors race for the same senders. The function's own semantics
 * (earliest slots first, duplicates free, a throttled batch leaving nothing behind) are
 * pinned in tests/intake-schema.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { useMigratedDatabase } from '../../../tests/support/migrated.ts';
import { DatabaseTimeoutError, DatabaseUnavailableError, type Queryable } from '../db/types.ts';
import { QueueOverloadedError } from './commit-queue.ts';
import type { IntakeEvent } from './events/types.ts';
import {
  createIngestor,
  groupKey,
  type IngestCall,
  type IngestLimits,
  WRITE_AT_ONCE_BYTES,
} from './ingest.ts';
import { NO_SHEDDING } from '../../../tests/support/ingest.ts';

const database = useMigratedDatabase();

const message = (key: string, sender: string | null): IntakeEvent => ({
  key,
  type: 'message',
  kind: 'test.message',
  sender,
  payload: { key },
});

const NO_LIMITS: IngestLimits = { global: null, sender: null };

/** `db`, with every statement text it is asked to run passed to `seen` first. */
function observing(db: Queryable, seen: (text: string) => void): Queryable {
  return {
    query: ((text: string, values?: readonly unknown[]) => {
      seen(text);
      return db.query(text, values);
    }) as Queryable['query'],
    exec: (text: string) => db.exec(text),
  };
}

/** The test database, except that the first statement waits until `unblock()`. */
function firstCallStuck() {
  let count = 0;
  let unblock!: () => void;
  const stuck = new Promise<void>((resolve) => (unblock = resolve));
  const db: Queryable = {
    query: (async (text: string, values?: readonly unknown[]) => {
      count += 1;
      if (count === 1) await stuck;
      return database.db.query(text, values);
    }) as Queryable['query'],
    exec: (text: string) => database.db.exec(text),
  };
  return { db, unblock: () => unblock(), calls: () => count };
}

/**
 * No shedding for the tests of batching and outcomes: on a busy machine a first call can
 * take longer than the standing-queue target, and what they check is not the shedding
 * (its own tests set the target they need).
 */
const PATIENT = { overload: NO_SHEDDING } as const;

describe('createIngestor', () => {
  it('sends a lone request at once, and what arrives meanwhile in one call after it', async () => {
    let calls = 0;
    const ingestor = createIngestor(
      observing(database.db, (text) => {
        if (text.includes('ingest_event')) calls += 1;
      }),
      PATIENT,
    );
    const first = ingestor.ingest({
      provider: 'gc',
      requestId: 'r0',
      events: [message('gc-0', null)],
      limits: NO_LIMITS,
    });
    // Next turn: the first call is in flight, so these 20 wait for it and go out together.
    await Promise.resolve();
    const rest = Array.from({ length: 20 }, (_, i) =>
      ingestor.ingest({
        provider: 'gc',
        requestId: `r${i + 1}`,
        events: [message(`gc-${i + 1}`, null)],
        limits: NO_LIMITS,
      }));
    const outcomes = await Promise.all([first, ...rest]);
    expect(outcomes.map(([outcome]) => outcome!.outcome)).toEqual(Array(21).fill('accepted'));
    expect(calls).toBe(2);
    const [stored] = await database.db.query<{ events: number; jobs: number }>(
      `select (select count(*) from inbound_events where provider = 'gc')::int as events,
              (select count(*) from jobs where queue = 'gc')::int as jobs`,
    );
    expect(stored).toEqual({ events: 21, jobs: 21 });
  });

  it('issues the next call before it answers the requests of the call that finished', async () => {
    const order: string[] = [];
    const ingestor = createIngestor(
      observing(database.db, (text) => {
        if (text.includes('ingest_event')) order.push('call');
      }),
      PATIENT,
    );
    const request = (key: string) => ({
      provider: 'overlap',
      requestId: key,
      events: [message(key, null)],
      limits: NO_LIMITS,
    });
    const first = ingestor.ingest(request('overlap-0')).then(() => order.push('first answered'));
    await Promise.resolve();
    const second = ingestor.ingest(request('overlap-1')).then(() => order.push('second answered'));
    await Promise.all([first, second]);
    expect(order).toEqual(['call', 'call', 'first answered', 'second answered']);
  });

  it('sends a statement long enough for the driver to write it at once', async () => {
    const texts: string[] = [];
    const db = observing(database.db, (text) => texts.push(text));
    const [outcome] = await createIngestor(db).ingest({
      provider: 'padded',
      requestId: 'padded-0',
      events: [message('padded-0', null)],
      limits: NO_LIMITS,
    });
    expect(outcome!.outcome).toBe('accepted');
    expect(texts).toHaveLength(1);
    expect(new TextEncoder().encode(texts[0]).length).toBeGreaterThanOrEqual(WRITE_AT_ONCE_BYTES);
  });

  it('reports each call: its events, its time, and whether it committed', async () => {
    const calls: IngestCall[] = [];
    const ingestor = createIngestor(database.db, {
      ...PATIENT,
      onCall: (call) => calls.push(call),
    });
    const request = (key: string, limits = NO_LIMITS) => ({
      provider: 'observed',
      requestId: key,
      events: [message(key, '+1')],
      limits,
    });
    const first = ingestor.ingest(request('observed-0'));
    await Promise.resolve();
    await Promise.all([
      first,
      ingestor.ingest(request('observed-1')),
      ingestor.ingest(request('observed-2')),
    ]);
    // A sender limit of capacity 0 is refused by the database: the call fails.
    const refused = ingestor.ingest(
      request('observed-3', { global: null, sender: { capacity: 0, refillPerSecond: 1 } }),
    );
    await expect(refused).rejects.toMatchObject({ code: '22023' });
    expect(calls.map(({ events, ok }) => ({ events, ok }))).toEqual([
      { events: 1, ok: true },
      { events: 2, ok: true },
      { events: 1, ok: false },
    ]);
    expect(calls.every((call) => call.groups === 1)).toBe(true);
    expect(calls.every((call) => call.milliseconds > 0)).toBe(true);
  });

  it('carries many limit keys in one commit when the call slots are busy, each throttled alone', async () => {
    const calls: IngestCall[] = [];
    const ingestor = createIngestor(database.db, {
      ...PATIENT,
      maxCalls: 1,
      onCall: (call) => calls.push(call),
    });
    const request = (number: number, events: IntakeEvent[], capacity = 100) => ({
      provider: 'multi',
      requestId: `multi-${number}`,
      events,
      limits: {
        global: { key: `multi:number:${number}`, capacity, refillPerSecond: capacity / 1000 },
        sender: null,
      },
    });
    // Number 5's bucket (2 tokens) holds one: its delivery of two events is short.
    await database.db.query(`select * from rate_limit_take('multi:number:5', 2, 0.002, 1)`);
    const first = ingestor.ingest(request(0, [message('multi-0', null)]));
    await Promise.resolve();
    // While that call is in flight, ten numbers; number 5's bucket cannot hold its two events.
    const rest = Array.from({ length: 10 }, (_, i) => {
      const number = i + 1;
      const events = number === 5
        ? [message('multi-5a', null), message('multi-5b', null)]
        : [message(`multi-${number}`, null)];
      return ingestor.ingest(request(number, events, number === 5 ? 2 : 100));
    });
    const outcomes = await Promise.all([first, ...rest]);
    expect(calls.map(({ events, groups, ok }) => ({ events, groups, ok }))).toEqual([
      { events: 1, groups: 1, ok: true },
      { events: 11, groups: 10, ok: true },
    ]);
    expect(outcomes.map((answer) => answer.map((o) => o.outcome))).toEqual([
      ['accepted'],
      ['accepted'],
      ['accepted'],
      ['accepted'],
      ['accepted'],
      ['throttled', 'throttled'],
      ['accepted'],
      ['accepted'],
      ['accepted'],
      ['accepted'],
      ['accepted'],
    ]);
    const stored = await database.db.query<{ event_key: string }>(
      `select event_key from inbound_events where provider = 'multi' order by event_key`,
    );
    expect(stored.map((row) => row.event_key)).not.toContain('multi-5a');
    expect(stored).toHaveLength(10);
  });

  it('keeps each request its own outcomes inside a shared call', async () => {
    const ingestor = createIngestor(database.db, PATIENT);
    const [a, b] = await Promise.all([
      ingestor.ingest({
        provider: 'own',
        requestId: 'a',
        events: [message('own-1', null), message('own-2', null)],
        limits: NO_LIMITS,
      }),
      ingestor.ingest({
        provider: 'own',
        requestId: 'b',
        events: [message('own-2', null)],
        limits: NO_LIMITS,
      }),
    ]);
    expect(a!.map((o) => o.outcome)).toEqual(['accepted', 'accepted']);
    expect(b!.map((o) => o.outcome)).toEqual(['duplicate']);
  });
});

describe('ingest_events sender buckets', () => {
  it('never admits more than a sender bucket holds when batches race', async () => {
    const pool = database.connect({ max: database.kind === 'postgres' ? 8 : 1 });
    const limits: IngestLimits = { global: null, sender: { capacity: 5, refillPerSecond: 1e-6 } };
    // Separate ingestors, so every batch is its own transaction racing for the same rows.
    const batches = await Promise.all(
      Array.from({ length: 8 }, (_, b) =>
        createIngestor(pool).ingest({
          provider: 'race',
          requestId: `b${b}`,
          events: [
            message(`race-${b}-a1`, '+1'),
            message(`race-${b}-b1`, '+2'),
            message(`race-${b}-a2`, '+1'),
          ],
          limits,
        })),
    );
    await pool.close();
    const accepted = { '+1': 0, '+2': 0 };
    for (const batch of batches) {
      batch.forEach((o, i) => {
        if (o.outcome === 'accepted') accepted[i === 1 ? '+2' : '+1'] += 1;
      });
    }
    expect(accepted).toEqual({ '+1': 5, '+2': 5 });
    expect(batches.flat().filter((o) => o.outcome === 'rate_limited')).toHaveLength(24 - 10);
    const [jobs] = await database.db.query<{ n: number }>(
      `select count(*)::int as n from jobs where queue = 'race'`,
    );
    expect(jobs!.n).toBe(10);
  });

  it('refuses a nonsense sender limit only when there is a sender to take for', async () => {
    const run = (sender: string | null) =>
      database.db.query('select * from ingest_events($1, $2::jsonb, $3::jsonb)', [
        'bad',
        [{ slot: 0, key: `bad-${sender}`, type: 't', kind: 'k', sender, payload: {} }],
        { sender: { capacity: 0, refill_per_second: 1 } },
      ]).then(() => 'ok', (error: { code?: string }) => error.code);
    expect(await run(null)).toBe('ok');
    expect(await run('+1')).toBe('22023');
  });

  it('answers a request past its deadline, and never sends one that timed out while queued', async () => {
    // The first call hangs before it reaches the database (a stuck connection); the
    // second request queues behind it.
    const { db: slowFirst, unblock, calls } = firstCallStuck();
    // The shedding rule would answer the queued one first (see the next test): off here.
    const ingestor = createIngestor(slowFirst, {
      timeoutMs: 200,
      overload: NO_SHEDDING,
    });
    const send = (key: string) =>
      ingestor.ingest({
        provider: 'deadline',
        requestId: key,
        events: [message(key, null)],
        limits: NO_LIMITS,
      });
    const started = performance.now();
    const first = send('deadline-first');
    await Promise.resolve();
    const queued = send('deadline-queued');
    await expect(first).rejects.toBeInstanceOf(DatabaseTimeoutError);
    await expect(queued).rejects.toBeInstanceOf(DatabaseTimeoutError);
    expect(performance.now() - started).toBeLessThan(1_000);

    unblock();
    // The stuck call still completes (its delivery may be stored: a retry is a duplicate);
    // the queued request, answered already, is skipped rather than sent.
    const later = await send('deadline-later');
    expect(later.map((outcome) => outcome.outcome)).toEqual(['accepted']);
    expect(calls()).toBe(2);
    const stored = await database.db.query<{ event_key: string }>(
      `select event_key from inbound_events where provider = 'deadline' order by event_key`,
    );
    expect(stored.map((row) => row.event_key)).toEqual(['deadline-first', 'deadline-later']);
  });

  it('sheds a request that waited past the target behind a standing queue', async () => {
    const { db: slowFirst, unblock, calls } = firstCallStuck();
    const ingestor = createIngestor(slowFirst, {
      timeoutMs: 5_000,
      overload: { targetMs: 20, intervalMs: 50 },
    });
    const send = (key: string) =>
      ingestor.ingest({
        provider: 'standing',
        requestId: key,
        events: [message(key, null)],
        limits: NO_LIMITS,
      });
    const first = send('standing-first');
    await Promise.resolve();
    const started = performance.now();
    const queued = send('standing-queued');
    await expect(queued).rejects.toBeInstanceOf(QueueOverloadedError);
    await expect(queued).rejects.toBeInstanceOf(DatabaseUnavailableError); // so: 503
    expect(performance.now() - started).toBeLessThan(1_000);
    unblock();
    expect((await first).map((outcome) => outcome.outcome)).toEqual(['accepted']);
    expect(calls()).toBe(1); // the shed request was never sent
  });
});

describe('groupKey', () => {
  // Few characters and numbers, so that different groups often look alike.
  const text = fc.string({ unit: fc.constantFrom('a', ':', '|', '/', '-', '1'), maxLength: 4 });
  const number = fc.constantFrom(0, 1, -1, 0.5, 10, 1e21);
  const request = fc.record({
    provider: text,
    limits: fc.record({
      global: fc.option(fc.record({ key: text, capacity: number, refillPerSecond: number })),
      sender: fc.option(fc.record({ capacity: number, refillPerSecond: number })),
    }),
  }).map((group) => ({ ...group, requestId: 'r', events: [] }));

  it('is shared by requests of the same provider and limits, and only by them', () => {
    fc.assert(
      fc.property(fc.array(request, { minLength: 100, maxLength: 100 }), (requests) => {
        // Each key stands for exactly one group (as its old key, a JSON text, did).
        const groups = new Map<string, string>();
        for (const r of requests) {
          const group = JSON.stringify([r.provider, r.limits]);
          expect(groups.get(groupKey(r)) ?? group).toBe(group);
          groups.set(groupKey(r), group);
        }
      }),
      { numRuns: 500 },
    );
  });
});
