import { describe, expect, it } from 'vitest';
import { capturedLogger } from '../../../tests/support/logs.ts';
import { useMigratedDatabase } from '../../../tests/support/migrated.ts';
import { createFunctionApp } from '../http/index.ts';
import { rateLimit, type RateLimitOptions } from './tiers.ts';

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

/** Tokens bucket `key` holds now, refill aside (read back rounded down). */
async function bucket(key: string): Promise<number> {
  const [row] = await database.db.query<{ tokens: number }>(
    `select floor(tokens)::int as tokens from public.rate_limits where key = $1`,
    [key],
  );
  return row!.tokens;
}

describe('rate-limit leases', () => {
  it('takes ten read tokens at once and spends them locally, one a request', async () => {
    const read = app();
    const subject = crypto.randomUUID();
    const key = `api:relaxed:${subject}`;
    const first = await read(subject);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit')).toMatch(/^"relaxed";r=999;t=\d+$/);
    expect(await bucket(key)).toBe(990);
    for (let i = 0; i < 9; i += 1) expect((await read(subject)).status).toBe(200);
    // Nine more reads, and the bucket only refilled meanwhile (a token per 60 ms).
    expect(await bucket(key)).toBeGreaterThanOrEqual(990);
    expect(await bucket(key)).toBeLessThan(1000);
    expect((await read(subject)).status).toBe(200);
    expect(await bucket(key)).toBeLessThan(990);
  });

  it('never grants more than the bucket gave: its last leased tokens, then 429', async () => {
    const read = app();
    const subject = crypto.randomUUID();
    const key = `api:relaxed:${subject}`;
    expect((await read(subject)).status).toBe(200);
    // Another instance spends the rest of the minute's budget.
    await database.db.query(`update public.rate_limits set tokens = 0 where key = $1`, [key]);
    const statuses: number[] = [];
    for (let i = 0; i < 10; i += 1) statuses.push((await read(subject)).status);
    expect(statuses).toEqual([...Array(9).fill(200), 429]);
  });

  it('takes one token a request on the other tiers', async () => {
    const read = app({ tier: () => 'moderate' });
    const subject = crypto.randomUUID();
    const key = `api:moderate:${subject}`;
    expect((await read(subject)).headers.get('ratelimit')).toMatch(/^"moderate";r=99;t=\d+$/);
    expect(await bucket(key)).toBe(99);
    await read(subject);
    expect(await bucket(key)).toBe(98);
  });

  it('remembers a bounded number of leases, forgetting the least recently used', async () => {
    const read = app({ leasedBucketsMax: 2 });
    const [a, b, c] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    for (const subject of [a, b, c]) await read(subject);
    // a's lease was forgotten when c's arrived: its next read takes a new one.
    await read(b);
    expect(await bucket(`api:relaxed:${b}`)).toBeGreaterThanOrEqual(990);
    await read(a);
    expect(await bucket(`api:relaxed:${a}`)).toBeLessThan(990);
  });
});
