/**
 * The intake schema in SQL: rate_limit_take's token bucket, ingest_events' outcomes, and
 * row-level security on every table it creates — tried as anon and as a signed-in user.
 */
import { describe, expect, it } from 'vitest';
import { useMigratedDatabase } from './support/migrated.ts';
import { asRole, sqlState } from './support/rls.ts';
import type { Transaction } from '../functions/_shared/db/types.ts';

const database = useMigratedDatabase();

type Take = { allowed: boolean; remaining: number; retry_after_ms: number };

function take(key: string, capacity: number, refill: number, cost = 1) {
  return database.db.query<Take>('select * from rate_limit_take($1, $2, $3, $4)', [
    key,
    capacity,
    refill,
    cost,
  ]).then((rows) => rows[0]!);
}

describe('rate_limit_take', () => {
  it('admits up to capacity, then denies with the time until a token is back', async () => {
    const results = [];
    for (let i = 0; i < 4; i += 1) results.push(await take('t:basic', 3, 0.5));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0]);
    // One token at 0.5/s takes up to 2 s to come back.
    expect(results[3]!.retry_after_ms).toBeGreaterThan(1_500);
    expect(results[3]!.retry_after_ms).toBeLessThanOrEqual(2_000);
  });

  it('takes a cost of several tokens at once, or none', async () => {
    expect(await take('t:cost', 10, 0.001, 7)).toMatchObject({ allowed: true, remaining: 3 });
    expect(await take('t:cost', 10, 0.001, 4)).toMatchObject({ allowed: false, remaining: 3 });
    expect(await take('t:cost', 10, 0.001, 3)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('takes a cost above the capacity once the bucket is full, emptying it', async () => {
    // Refused for ever before: a take larger than the bucket could never be granted.
    expect(await take('t:over', 3, 0.001, 5)).toMatchObject({ allowed: true, remaining: 0 });
    const refused = await take('t:over', 3, 0.001, 5);
    expect(refused).toMatchObject({ allowed: false, remaining: 0 });
    // Until the bucket is full again (3 tokens at 0.001/s), not until it holds 5.
    expect(refused.retry_after_ms).toBeGreaterThan(2_990_000);
    expect(refused.retry_after_ms).toBeLessThanOrEqual(3_000_000);
  });

  it('refills with time', async () => {
    await take('t:refill', 1, 1_000);
    // At 1,000 tokens/s the bucket is full again after a millisecond.
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await take('t:refill', 1, 1_000)).allowed).toBe(true);
  });

  it('rejects nonsense arguments', async () => {
    expect(await sqlState(() => take('t:bad', 0, 1))).toBe('22023');
    expect(await sqlState(() => take('t:bad', 1, 0))).toBe('22023');
  });

  it('never admits more than capacity with 64 concurrent takers', async () => {
    const pool = database.connect({ max: database.kind === 'postgres' ? 40 : 1 });
    const results = await Promise.all(
      Array.from(
        { length: 64 },
        () =>
          pool.query<Take>('select * from rate_limit_take($1, 10, 0.0001)', ['t:race']).then((r) =>
            r[0]!
          ),
      ),
    );
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    await pool.close();
  });
});

type Outcome = { slot: number; outcome: string; event_id: string | null; job_id: string | null };

function ingest(provider: string, events: object[], limits: object = {}) {
  return database.db.query<Outcome>('select * from ingest_events($1, $2::jsonb, $3::jsonb)', [
    provider,
    events,
    limits,
  ]);
}

const event = (slot: number, key: string, sender: string | null = null) => ({
  slot,
  key,
  type: 'message',
  kind: 'test.message',
  sender,
  payload: { key, text: 'hé 🚗' },
  request_id: `req-${slot}`,
});

describe('ingest_events', () => {
  it('stores new events and enqueues one job each; duplicates write nothing', async () => {
    const first = await ingest('test-a', [event(0, 'k1'), event(1, 'k2'), event(2, 'k1')]);
    expect(first.map((r) => [r.slot, r.outcome])).toEqual([
      [0, 'accepted'],
      [1, 'accepted'],
      [2, 'duplicate'],
    ]);
    const again = await ingest('test-a', [event(0, 'k2')]);
    expect(again.map((r) => r.outcome)).toEqual(['duplicate']);
    const [counts] = await database.db.query<{ events: number; jobs: number }>(
      `select (select count(*) from inbound_events where provider = 'test-a')::int as events,
              (select count(*) from jobs where queue = 'test-a')::int as jobs`,
    );
    expect(counts).toEqual({ events: 2, jobs: 2 });
    const [stored] = await database.db.query<{ payload: unknown; request_id: string }>(
      `select payload, request_id from inbound_events where provider = 'test-a' and event_key = 'k1'`,
    );
    expect(stored).toEqual({ payload: { key: 'k1', text: 'hé 🚗' }, request_id: 'req-0' });
  });

  it('stores a sender over its limit as rate_limited, with no job', async () => {
    const limits = { sender: { capacity: 2, refill_per_second: 0.0001 } };
    const rows = await ingest('test-b', [
      event(0, 'a', '+111'),
      event(1, 'b', '+111'),
      event(2, 'c', '+111'),
      event(3, 'd', '+222'),
    ], limits);
    expect(rows.map((r) => r.outcome)).toEqual([
      'accepted',
      'accepted',
      'rate_limited',
      'accepted',
    ]);
    const statuses = await database.db.query<{ event_key: string; status: string; jobs: number }>(
      `select e.event_key, e.status,
              (select count(*) from jobs j where j.payload->>'inbound_event_id' = e.id::text)::int as jobs
         from inbound_events e where provider = 'test-b' order by event_key`,
    );
    expect(statuses).toEqual([
      { event_key: 'a', status: 'accepted', jobs: 1 },
      { event_key: 'b', status: 'accepted', jobs: 1 },
      { event_key: 'c', status: 'rate_limited', jobs: 0 },
      { event_key: 'd', status: 'accepted', jobs: 1 },
    ]);
  });

  it('throttles the whole batch when the provider is over its global limit', async () => {
    const limits = { global: { key: 'test-c:global', capacity: 2, refill_per_second: 0.001 } };
    expect((await ingest('test-c', [event(0, 'x'), event(1, 'y')], limits)).map((r) => r.outcome))
      .toEqual(['accepted', 'accepted']);
    const throttled = await ingest('test-c', [event(0, 'z')], limits);
    expect(throttled).toHaveLength(1);
    expect(throttled[0]).toMatchObject({ outcome: 'throttled', event_id: null });
    const [{ n }] = await database.db.query<{ n: number }>(
      `select count(*)::int as n from inbound_events where provider = 'test-c'`,
    ) as [{ n: number }];
    expect(n).toBe(2);
  });

  type Bucket = { key: string; tokens: number; updated_at: string };
  const buckets = (prefix: string) =>
    database.db.query<Bucket>(
      `select key, tokens, updated_at::text from rate_limits where key like $1 order by key`,
      [`${prefix}%`],
    );
  const jobCount = (queue: string) =>
    database.db.query<{ n: number }>(`select count(*)::int as n from jobs where queue = $1`, [
      queue,
    ]).then((rows) => rows[0]!.n);
  const tiny = 0.00001;

  it("gives a sender's tokens to its earliest slots, whatever the order in the array", async () => {
    const limits = { sender: { capacity: 3, refill_per_second: tiny } };
    const rows = await ingest(
      'test-d',
      [4, 2, 0, 3, 1].map((slot) => event(slot, `d${slot}`, '+1')),
      limits,
    );
    expect(rows.map((r) => [r.slot, r.outcome])).toEqual([
      [0, 'accepted'],
      [1, 'accepted'],
      [2, 'accepted'],
      [3, 'rate_limited'],
      [4, 'rate_limited'],
    ]);
    expect(rows.every((r) => r.event_id !== null)).toBe(true);
    expect(rows.map((r) => r.job_id !== null)).toEqual([true, true, true, false, false]);
    expect(await jobCount('test-d')).toBe(3);
    expect((await buckets('test-d:sender:')).map((b) => Math.round(b.tokens))).toEqual([0]);
  });

  it('grants a new sender no more than the capacity in one batch', async () => {
    const limits = { sender: { capacity: 2, refill_per_second: tiny } };
    const rows = await ingest(
      'test-e',
      [0, 1, 2, 3].map((slot) => event(slot, `e${slot}`, '+1')),
      limits,
    );
    expect(rows.map((r) => r.outcome)).toEqual([
      'accepted',
      'accepted',
      'rate_limited',
      'rate_limited',
    ]);
    const statuses = await database.db.query<{ status: string }>(
      `select status from inbound_events where provider = 'test-e' order by event_key`,
    );
    expect(statuses.map((r) => r.status)).toEqual([
      'accepted',
      'accepted',
      'rate_limited',
      'rate_limited',
    ]);
  });

  it('takes no tokens for duplicates, in the table or in the batch', async () => {
    const limits = { sender: { capacity: 3, refill_per_second: tiny } };
    expect((await ingest('test-f', [event(0, 'old', '+7')], limits)).map((r) => r.outcome))
      .toEqual(['accepted']);
    // +7 has 2 tokens left: the stored key and the repeat of f1 take none of them.
    const rows = await ingest('test-f', [
      event(0, 'old', '+7'),
      event(1, 'f1', '+7'),
      event(2, 'f1', '+7'),
      event(3, 'f2', '+7'),
      event(4, 'f3', '+7'),
      event(5, 'f4', '+8'),
      event(6, 'f5', null),
    ], limits);
    expect(rows.map((r) => r.outcome)).toEqual([
      'duplicate',
      'accepted',
      'duplicate',
      'accepted',
      'rate_limited',
      'accepted',
      'accepted',
    ]);
    expect(rows.map((r) => r.event_id === null)).toEqual([
      true,
      false,
      true,
      false,
      false,
      false,
      false,
    ]);
    expect(rows.map((r) => r.job_id === null)).toEqual([
      true,
      false,
      true,
      false,
      true,
      false,
      false,
    ]);
    expect((await buckets('test-f:sender:')).map((b) => [b.key, Math.round(b.tokens)])).toEqual([
      ['test-f:sender:+7', 0],
      ['test-f:sender:+8', 2],
    ]);
    expect(await jobCount('test-f')).toBe(5);
  });

  it("charges the provider's bucket only for what it stores: redeliveries are free", async () => {
    const global = { key: 'test-dup:global', capacity: 2, refill_per_second: tiny };
    expect(
      (await ingest('test-dup', [event(0, 'd0'), event(1, 'd1')], { global })).map((r) =>
        r.outcome
      ),
    ).toEqual(['accepted', 'accepted']);
    // The bucket is empty; a redelivery of both still gets `duplicate`, never `throttled`.
    const again = await ingest('test-dup', [event(0, 'd0'), event(1, 'd1'), event(2, 'd1')], {
      global,
    });
    expect(again.map((r) => r.outcome)).toEqual(['duplicate', 'duplicate', 'duplicate']);
    // A batch with something new is charged for that alone: one token short, throttled.
    const mixed = await ingest('test-dup', [event(0, 'd0'), event(1, 'd2')], { global });
    expect(mixed.map((r) => r.outcome)).toEqual(['throttled', 'throttled']);
    expect((await buckets('test-dup')).map((b) => [b.key, Math.round(b.tokens)])).toEqual([
      ['test-dup:global', 0],
    ]);
  });

  it('leaves no rows and no bucket changes behind a throttled batch', async () => {
    const global = { key: 'test-g:global', capacity: 3, refill_per_second: tiny };
    const sender = { capacity: 5, refill_per_second: tiny };
    await ingest('test-g', [event(0, 'g0', '+1'), event(1, 'g1', '+2')], { global, sender });
    const before = await buckets('test-g');
    expect(before.map((b) => [b.key, Math.round(b.tokens)])).toEqual([
      ['test-g:global', 1],
      ['test-g:sender:+1', 4],
      ['test-g:sender:+2', 4],
    ]);
    const rows = await ingest(
      'test-g',
      [event(0, 'g2', '+1'), event(1, 'g3', '+3'), event(2, 'g0', '+2')],
      { global, sender },
    );
    expect(rows.map((r) => [r.slot, r.outcome, r.event_id, r.job_id])).toEqual([
      [0, 'throttled', null, null],
      [1, 'throttled', null, null],
      [2, 'throttled', null, null],
    ]);
    expect((rows as unknown as { retry_after_ms: number }[])[0]!.retry_after_ms)
      .toBeGreaterThan(1_000_000);
    // Same tokens, same updated_at, and no bucket for the new sender +3.
    expect(await buckets('test-g')).toEqual(before);
    const [{ events, jobs }] = await database.db.query<{ events: number; jobs: number }>(
      `select (select count(*) from inbound_events where provider = 'test-g')::int as events,
              (select count(*) from jobs where queue = 'test-g')::int as jobs`,
    ) as [{ events: number; jobs: number }];
    expect({ events, jobs }).toEqual({ events: 2, jobs: 2 });
  });

  it('stores a batch that costs more than the provider bucket holds once the bucket is full', async () => {
    // Refused for ever before, with a Retry-After that could never come true.
    const global = { key: 'test-h:global', capacity: 2, refill_per_second: 0.001 };
    const rows = await ingest('test-h', [0, 1, 2].map((slot) => event(slot, `h${slot}`)), {
      global,
    });
    expect(rows.map((r) => r.outcome)).toEqual(['accepted', 'accepted', 'accepted']);
    // It emptied the bucket: the next oversized batch waits until the bucket is full again.
    const next = await ingest('test-h', [3, 4, 5].map((slot) => event(slot - 3, `h${slot}`)), {
      global,
    });
    expect(next.map((r) => r.outcome)).toEqual(['throttled', 'throttled', 'throttled']);
    const wait = (next as unknown as { retry_after_ms: number }[])[0]!.retry_after_ms;
    // Two tokens at 0.001/s (2,000 s), less the moments since the first call.
    expect(wait).toBeGreaterThan(1_990_000);
    expect(wait).toBeLessThanOrEqual(2_000_000);
  });

  it('refills near-empty buckets with the time waited for them', async () => {
    // 1,000 tokens/s: both buckets are empty after the first batch and full again 5 ms later.
    const limits = {
      global: { key: 'test-i:global', capacity: 2, refill_per_second: 1_000 },
      sender: { capacity: 2, refill_per_second: 1_000 },
    };
    const first = await ingest('test-i', [event(0, 'i0', '+1'), event(1, 'i1', '+1')], limits);
    expect(first.map((r) => r.outcome)).toEqual(['accepted', 'accepted']);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await ingest('test-i', [event(0, 'i2', '+1'), event(1, 'i3', '+1')], limits);
    expect(second.map((r) => r.outcome)).toEqual(['accepted', 'accepted']);
    for (const bucket of await buckets('test-i')) expect(bucket.tokens).toBeLessThan(1);
  });

  it('never admits more than a sender holds when batches with shared senders race', async () => {
    const pool = database.connect({ max: database.kind === 'postgres' ? 16 : 1 });
    const limits = { sender: { capacity: 4, refill_per_second: tiny } };
    const senders = ['+1', '+2', '+3', '+4', '+5', '+6'];
    // Each batch names the senders in another order, and some keys repeat across batches.
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, b) =>
        pool.query<Outcome & { sender: string }>(
          'select * from ingest_events($1, $2::jsonb, $3::jsonb)',
          [
            'test-j',
            Array.from({ length: 12 }, (_, i) => {
              const sender = senders[(b * 5 + i * (b % 2 === 0 ? 1 : 5)) % senders.length]!;
              return event(i, i < 3 ? `shared-${i}` : `j${b}-${i}`, sender);
            }),
            limits,
          ],
        )),
    );
    await pool.close();
    expect(results.flat().filter((r) => r.outcome === 'throttled')).toEqual([]);
    const accepted = await database.db.query<{ sender: string; n: number }>(
      `select sender, count(*)::int as n from inbound_events
        where provider = 'test-j' and status = 'accepted' group by sender order by sender`,
    );
    expect(accepted).toEqual(senders.map((sender) => ({ sender, n: 4 })));
    expect(await jobCount('test-j')).toBe(24);
    expect((await buckets('test-j:sender:')).map((b) => Math.round(b.tokens))).toEqual(
      senders.map(() => 0),
    );
  });
});

const PLATFORM_TABLES = [
  'inbound_events',
  'jobs',
  'dead_jobs',
  'rate_limits',
  'whatsapp_logs',
  'feature_flags',
];

describe('row-level security', () => {
  it('is enabled on every table in public', async () => {
    const rows = await database.db.query<{ relname: string; relrowsecurity: boolean }>(
      `select relname, relrowsecurity from pg_class
        where relnamespace = 'public'::regnamespace and relkind = 'r' order by relname`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(PLATFORM_TABLES.length);
    expect(rows.filter((row) => !row.relrowsecurity)).toEqual([]);
  });

  for (const table of PLATFORM_TABLES) {
    it(`keeps anon out of ${table}`, async () => {
      expect(
        await asRole(
          database.db,
          'anon',
          (tx) => sqlState(() => tx.query(`select * from ${table}`)),
        ),
      )
        .toBe('42501');
    });
  }

  for (const table of PLATFORM_TABLES.filter((name) => name !== 'feature_flags')) {
    it(`keeps signed-in users out of ${table}`, async () => {
      const claims = { role: 'authenticated', sub: '00000000-0000-4000-8000-000000000001' };
      const state = await asRole(
        database.db,
        'authenticated',
        (tx) => sqlState(() => tx.query(`select * from ${table}`)),
        claims,
      );
      expect(state).toBe('42501');
    });
  }

  it('lets signed-in users read flags but not change them', async () => {
    const user = <T>(fn: (tx: Transaction) => Promise<T>) =>
      asRole(database.db, 'authenticated', fn);
    const result = {
      read: await user(async (tx) =>
        (await tx.query(`select key from feature_flags where key = 'intake.stripe'`)).length
      ),
      update: await user((tx) =>
        sqlState(() => tx.query(`update feature_flags set enabled = false`))
      ),
      insert: await user((tx) =>
        sqlState(() => tx.query(`insert into feature_flags (key) values ('x.y')`))
      ),
    };
    expect(result).toEqual({ read: 1, update: '42501', insert: '42501' });
  });

  it('does not let anon or users call the intake functions', async () => {
    for (const role of ['anon', 'authenticated'] as const) {
      const states = [
        await asRole(
          database.db,
          role,
          (tx) => sqlState(() => tx.query(`select * from rate_limit_take('x', 1, 1)`)),
        ),
        await asRole(
          database.db,
          role,
          (tx) => sqlState(() => tx.query(`select * from ingest_events('x', '[]', '{}')`)),
        ),
        await asRole(
          database.db,
          role,
          (tx) => sqlState(() => tx.query(`select * from ingest_event_groups('[]')`)),
        ),
      ];
      expect(states).toEqual(['42501', '42501', '42501']);
    }
  });

  it('lets the service role work the queue', async () => {
    const count = await asRole(database.db, 'service_role', async (tx) => {
      await tx.query(`select * from ingest_events('svc', $1::jsonb, '{}')`, [[event(0, 'svc-1')]]);
      return (await tx.query(`select id from jobs where queue = 'svc'`)).length;
    });
    expect(count).toBe(1);
  });
});
