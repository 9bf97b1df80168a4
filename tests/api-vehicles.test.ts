/**
 * `/api/vehicles` as a PWA uses it: CRUD under the caller's token, optimistic locking,
 * cursor pagination, validation; and other users' vehicles as if they did not exist.
 */
import { describe, expect, it } from 'vitest';
import { send, useApi } from './support/api.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { problemOf } from './support/test-app.ts';

const database = useMigratedDatabase();
const api = useApi(database);
const ADA = '3a4b5c6d-7e8f-4a0b-9c1d-2e3f4a5b6c7d';
const BOB = '4b5c6d7e-8f9a-4b1c-8d2e-3f4a5b6c7d8e';

async function register(user: string, plate: string) {
  const res = await api.call(user, '/vehicles', send('POST', { plate, seats: 4 }));
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; version: number; plate: string };
}

describe('/api/vehicles', () => {
  it('registers a vehicle to the caller, whatever the body claims', async () => {
    const res = await api.call(
      ADA,
      '/vehicles',
      send('POST', { plate: 'kdc 123a', make: 'Toyota' }),
    );
    expect(res.status).toBe(201);
    expect(res.headers.get('etag')).toBe('"1"');
    expect(await res.json()).toMatchObject({
      owner_user_id: ADA,
      plate: 'KDC 123A',
      make: 'Toyota',
      status: 'active',
      version: 1,
    });
    const forged = await api.call(
      ADA,
      '/vehicles',
      send('POST', { plate: 'KDC 999Z', owner_user_id: BOB }),
    );
    expect(forged.status).toBe(400);
    expect((await problemOf(forged)).errors).toEqual([
      expect.objectContaining({ message: expect.stringContaining('owner_user_id') }),
    ]);
  });

  it('refuses invalid input with 400 and says which field', async () => {
    const res = await api.call(ADA, '/vehicles', send('POST', { plate: '!', seats: 0 }));
    expect(res.status).toBe(400);
    const problem = await problemOf(res);
    expect((problem.errors as { path: string }[]).map((error) => error.path).sort()).toEqual([
      'plate',
      'seats',
    ]);
    const notJson = await api.call(ADA, '/vehicles', { method: 'POST', body: '{"plate":' });
    expect(notJson.status).toBe(400);
  });

  it('answers 409 for a plate the caller registered already', async () => {
    await register(ADA, 'KAA 100A');
    const again = await api.call(ADA, '/vehicles', send('POST', { plate: 'KAA 100A' }));
    expect(again.status).toBe(409);
    // Another user may register the same plate: uniqueness is per owner.
    await register(BOB, 'KAA 100A');
  });

  it('changes a vehicle only at the version the caller read', async () => {
    const car = await register(ADA, 'KBB 200B');
    const none = await api.call(ADA, `/vehicles/${car.id}`, send('PATCH', { color: 'red' }));
    expect(none.status).toBe(428);
    const ok = await api.call(
      ADA,
      `/vehicles/${car.id}`,
      send('PATCH', { color: 'red' }, { 'if-match': '"1"' }),
    );
    expect(ok.status).toBe(200);
    expect(ok.headers.get('etag')).toBe('"2"');
    expect(await ok.json()).toMatchObject({ color: 'red', version: 2 });
    const staleHeader = await api.call(
      ADA,
      `/vehicles/${car.id}`,
      send('PATCH', { color: 'blue' }, { 'if-match': '"1"' }),
    );
    expect(staleHeader.status).toBe(412);
    expect(await problemOf(staleHeader)).toMatchObject({ current_version: 2 });
    const staleBody = await api.call(
      ADA,
      `/vehicles/${car.id}`,
      send('PATCH', { color: 'blue', version: 1 }),
    );
    expect(staleBody.status).toBe(409);
    const current = await api.call(ADA, `/vehicles/${car.id}`);
    expect(await current.json()).toMatchObject({ color: 'red', version: 2 });
  });

  it("treats another user's vehicle as not there: read, change and delete are 404", async () => {
    const bobs = await register(BOB, 'KCC 300C');
    expect((await api.call(ADA, `/vehicles/${bobs.id}`)).status).toBe(404);
    const change = await api.call(
      ADA,
      `/vehicles/${bobs.id}`,
      send('PATCH', { status: 'inactive', version: 1 }),
    );
    expect(change.status).toBe(404);
    const remove = await api.call(ADA, `/vehicles/${bobs.id}`, { method: 'DELETE' });
    expect(remove.status).toBe(404);
    expect(await remove.json()).toMatchObject({ detail: 'no such vehicle' });
    const still = await api.call(BOB, `/vehicles/${bobs.id}`);
    expect(await still.json()).toMatchObject({ status: 'active', version: 1 });
  });

  it("deletes the caller's own vehicle", async () => {
    const car = await register(ADA, 'KDD 400D');
    expect((await api.call(ADA, `/vehicles/${car.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await api.call(ADA, `/vehicles/${car.id}`)).status).toBe(404);
  });

  it('pages through every vehicle once, newest first, with a capped page size', async () => {
    const owner = '5c6d7e8f-9a0b-4c2d-9e3f-4a5b6c7d8e9f';
    const made: string[] = [];
    for (let i = 0; i < 25; i += 1) made.push((await register(owner, `KEE ${100 + i}E`)).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const res = await api.call(owner, `/vehicles?limit=10${query}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: { id: string }[]; next_cursor: string | null };
      seen.push(...page.items.map((item) => item.id));
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([...made].reverse());
    expect((await api.call(owner, '/vehicles?limit=101')).status).toBe(400);
    expect((await api.call(owner, '/vehicles?cursor=bm90LWEtY3Vyc29y')).status).toBe(400);
  });

  it('writes a listed vehicle as the one-row read writes it, timestamps as ISO 8601', async () => {
    const owner = '6d7e8f9a-0b1c-4d2e-8f3a-5b6c7d8e9f0a';
    const car = await register(owner, 'KFF 500F');
    const one = await (await api.call(owner, `/vehicles/${car.id}`)).json() as Record<
      string,
      unknown
    >;
    const page = await (await api.call(owner, '/vehicles')).json() as {
      items: Record<string, unknown>[];
    };
    expect(page.items).toEqual([one]);
    expect(one.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(one.updated_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('says where the caller stands in the RateLimit fields, and answers 429 past the tier', async () => {
    const busy = '9a0b1c2d-3e4f-4a6b-8c7d-8e9f0a1b2c3d';
    const read = await api.call(busy, '/vehicles');
    expect(read.headers.get('ratelimit-policy')).toBe('"relaxed";q=1000;w=60');
    expect(read.headers.get('ratelimit')).toMatch(/^"relaxed";r=999;t=\d+$/);
    // A refused write spends a token of the moderate tier all the same.
    const invalid = await api.call(busy, '/vehicles', send('POST', {}));
    expect(invalid.status).toBe(400);
    expect(invalid.headers.get('ratelimit')).toMatch(/^"moderate";r=99;t=\d+$/);
    // The other 99 go at once (sent one by one, the bucket would refill as they went).
    const [drained] = await database.db.query(
      `select * from public.rate_limit_take($1, 100, 100 / 60.0, 99)`,
      [`api:moderate:${busy}`],
    );
    expect(drained).toMatchObject({ allowed: true, remaining: 0 });
    const refused = await api.call(busy, '/vehicles', send('POST', {}));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('ratelimit')).toMatch(/^"moderate";r=0;t=\d+$/);
    // Reads have their own budget.
    expect((await api.call(busy, '/vehicles')).status).toBe(200);
  });
});
