import { describe, expect, it } from 'vitest';
import { capturedLogger } from '../../../tests/support/logs.ts';
import { useMigratedDatabase } from '../../../tests/support/migrated.ts';
import { createFunctionApp } from '../http/index.ts';
import { leaseWanted, rateLimit, type RateLimitOptions } from './tiers.ts';

const database = useMigratedDatabase();

/** A read route behind the limiter, each request naming its subject in `x-subject`. */
function app(options: Partial<RateLimitOptions> = {}) {
  const hono = createFunctionApp('limited', {
    logger: capturedLogger().logger,
    corsOrigins: [],
    bodyLimitBytes: 1024,
  });
  hono.use(
    '*',
    rateLimit({ db: database.db, subject: (c) => c.req.header('x-subject')!, ...options }),
  );
  hono.get('/read', (c) => c.text('ok'));
  return (subject: string) => hono.request('/limited/read', { headers: { 'x-subject': subject } });
}

/** Bucket `key` as stored: its tokens rounded down, and when a take last wrote it. */
async function bucket(key: string): Promise<{ tokens: number; written: string }> {
  const [row] = await database.db.query<{ tokens: number; written: string }>(
    `select floor(tokens)::int as tokens, updated_at::text as written
       from public.rate_limits where key = $1`,
    [key],
  );
  return row!;
}

describe('rate-limit leases', () => {
  it('takes ten read tokens at first, spends them locally, and takes the next as they run low', async () => {
    const read = app();
    const subject = crypto.randomUUID();
    const key = `api:relaxed:${subject}`;
    const first = await read(subject);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit')).toMatch(/^"relaxed";r=999;t=\d+$/);
    const leased = await bucket(key);
    expect(leased.tokens).toBe(990);
    for (let i = 0; i < 6; i += 1) expect((await read(subject)).status).toBe(200);
    // Six more reads and no take: the bucket was not written.
    expect(await bucket(key)).toEqual(leased);
    // The next leaves two: the next lease is taken in the background, a twentieth of the
    // 990 the bucket held (49; the bucket refills about 17 a second meanwhile).
    expect((await read(subject)).status).toBe(200);
    let refilled = leased;
    for (let tries = 0; tries < 100 && refilled.written === leased.written; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      refilled = await bucket(key);
    }
    expect(refilled.written).not.toBe(leased.written);
    expect(990 - refilled.tokens).toBeGreaterThanOrEqual(30);
    expect(refilled.tokens).toBeGreaterThanOrEqual(941);
  });

  it('sizes a lease by what the bucket held: a twentieth of a full one, the tier’s near the limit', () => {
    expect(leaseWanted(10, undefined)).toBe(10); // the first take
    expect(leaseWanted(10, 990)).toBe(49);
    expect(leaseWanted(10, 300)).toBe(15);
    expect(leaseWanted(10, 150)).toBe(10);
    expect(leaseWanted(10, 3)).toBe(10); // the take grants what there is
    expect(leaseWanted(1, 99)).toBe(1); // writes and sign-in: one token a request
  });

  it('never grants more than the bucket gave: its last leased tokens, then 429', async () => {
    const read = app();
    const subject = crypto.randomUUID();
    const key = `api:relaxed:${subject}`;
    expect((await read(subject)).status).toBe(200);
    // Another instance spends the rest of the budget (and no refill comes during the test).
    await database.db.query(
      `update public.rate_limits set tokens = 0, updated_at = clock_timestamp() + interval '1 minute'
        where key = $1`,
      [key],
    );
    const statuses: number[] = [];
    for (let i = 0; i < 10; i += 1) statuses.push((await read(subject)).status);
    expect(statuses).toEqual([...Array(9).fill(200), 429]);
  });

  it('serves requests that arrive together from one take, not one take each', async () => {
    const read = app();
    const subject = crypto.randomUUID();
    const key = `api:relaxed:${subject}`;
    const answers = await Promise.all(Array.from({ length: 5 }, () => read(subject)));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200]);
    // One lease of ten, five of them spent here: the bucket gave ten, not fifty.
    expect((await bucket(key)).tokens).toBe(990);
  });

  it('takes one token a request on the other tiers', async () => {
    const read = app({ tier: () => 'moderate' });
    const subject = crypto.randomUUID();
    const key = `api:moderate:${subject}`;
    expect((await read(subject)).headers.get('ratelimit')).toMatch(/^"moderate";r=99;t=\d+$/);
    const first = await bucket(key);
    expect(first.tokens).toBe(99);
    await read(subject);
    expect((await bucket(key)).written).not.toBe(first.written);
  });

  it('remembers a bounded number of leases, forgetting the least recently used', async () => {
    const read = app({ leasedBucketsMax: 2 });
    const [a, b, c] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    await read(a);
    await read(b);
    await read(a); // a is now the most recently used
    await read(c); // three leases: b's goes
    const before = { a: await bucket(`api:relaxed:${a}`), b: await bucket(`api:relaxed:${b}`) };
    await read(a);
    await read(b);
    expect(await bucket(`api:relaxed:${a}`)).toEqual(before.a); // spent from its lease
    expect((await bucket(`api:relaxed:${b}`)).written).not.toBe(before.b.written); // took anew
  });
});

describe('rate_limit_lease', () => {
  type Lease = { granted: number; remaining: number; retry_after_ms: number };
  const lease = (key: string, capacity: number, refill: number, want: number) =>
    database.db.query<Lease>(
      'select granted, remaining, retry_after_ms from public.rate_limit_lease($1, $2, $3, $4)',
      [key, capacity, refill, want],
    ).then((rows) => rows[0]!);

  it('creates a bucket full less its first grant, and grants what is left, then nothing', async () => {
    const key = `test:lease:${crypto.randomUUID()}`;
    // One token a minute: no refill to speak of while the test runs.
    expect(await lease(key, 25, 1 / 60, 10)).toEqual({
      granted: 10,
      remaining: 15,
      retry_after_ms: 0,
    });
    expect((await bucket(key)).tokens).toBe(15);
    expect(await lease(key, 25, 1 / 60, 10)).toMatchObject({ granted: 10, remaining: 5 });
    expect(await lease(key, 25, 1 / 60, 10)).toMatchObject({ granted: 5, remaining: 0 });
    const empty = await lease(key, 25, 1 / 60, 10);
    expect(empty).toMatchObject({ granted: 0, remaining: 0 });
    // Most of a minute until the next token (what was left over refills meanwhile).
    expect(empty.retry_after_ms).toBeGreaterThan(50_000);
    expect(empty.retry_after_ms).toBeLessThanOrEqual(60_000);
  });

  it('never grants more than a new bucket holds to first takes that race', async () => {
    const key = `test:lease:${crypto.randomUUID()}`;
    const leases = await Promise.all(
      Array.from({ length: 8 }, () => lease(key, 25, 1 / 60, 10)),
    );
    const granted = leases.map((l) => l.granted).sort((a, b) => b - a);
    expect(granted.reduce((sum, n) => sum + n, 0)).toBe(25);
    expect(granted.slice(0, 3)).toEqual([10, 10, 5]);
    expect((await bucket(key)).tokens).toBe(0);
  });

  it('refuses a lease of nothing and a bucket that cannot hold or refill', async () => {
    const key = `test:lease:${crypto.randomUUID()}`;
    await expect(lease(key, 25, 1, 0)).rejects.toThrow(/want must be >= 1/);
    await expect(lease(key, 0, 1, 1)).rejects.toThrow(/capacity must be >= 1/);
    await expect(lease(key, 25, 0, 1)).rejects.toThrow(/refill_per_second > 0/);
  });
});
