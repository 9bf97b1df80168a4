/**
 * `Idempotency-Key` on the user API: a retry replays the first answer, another request
 * under the same key is 422, a retry while the first runs is 409, keys expire, a route
 * that needs one says so, and two instances on one database share what they kept.
 */
import { describe, expect, it } from 'vitest';
import { requestFingerprint } from '../functions/_shared/http/idempotency.ts';
import { send, useApi } from './support/api.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { problemOf } from './support/test-app.ts';

const database = useMigratedDatabase();
const first = useApi(database);
const second = useApi(database); // another instance: its own app, the same database
const RIDER = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';

const ride = (key: string, pickup = 'Kencom') =>
  send('POST', { pickup, dropoff: 'Westlands' }, { 'idempotency-key': key });
const rides = async () =>
  (await database.db.query('select id from rides where passenger_user_id = $1', [RIDER])).length;

describe('Idempotency-Key', () => {
  it('replays the first answer to a retry, on any instance, and does the work once', async () => {
    const key = crypto.randomUUID();
    const before = await rides();
    const original = await first.call(RIDER, '/rides', ride(key));
    expect(original.status).toBe(201);
    const body = await original.json();
    for (const instance of [first, second]) {
      const retry = await instance.call(RIDER, '/rides', ride(key));
      expect(retry.status).toBe(201);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(retry.headers.get('etag')).toBe(original.headers.get('etag'));
      expect(await retry.json()).toEqual(body);
    }
    expect(await rides()).toBe(before + 1);
  });

  it('refuses the same key for a different request with 422', async () => {
    const key = crypto.randomUUID();
    expect((await first.call(RIDER, '/rides', ride(key, 'Kencom'))).status).toBe(201);
    const other = await first.call(RIDER, '/rides', ride(key, 'Yaya Centre'));
    expect(other.status).toBe(422);
    expect((await problemOf(other)).detail).toContain('different request');
  });

  it('answers 409 while the first request with the key is still running', async () => {
    const key = crypto.randomUUID();
    const original = ride(key);
    // The key as its first request leaves it while it runs: claimed, no answer yet.
    const fingerprint = requestFingerprint('POST', '/api/rides', String(original.body));
    await database.db.query(
      `insert into idempotency_keys (user_id, key, fingerprint, locked_until, expires_at)
       values ($1, $2, $3, now() + interval '1 minute', now() + interval '1 day')`,
      [RIDER, key, fingerprint],
    );
    const meanwhile = await second.call(RIDER, '/rides', original);
    expect(meanwhile.status).toBe(409);
    expect(meanwhile.headers.get('retry-after')).toBe('1');
    // A first request that died holds the key only until its lock runs out.
    await database.db.query(
      `update idempotency_keys set locked_until = now() - interval '1 second' where key = $1`,
      [key],
    );
    expect((await second.call(RIDER, '/rides', original)).status).toBe(201);
  });

  it('forgets a key once it expires: the same key then runs a new request', async () => {
    const key = crypto.randomUUID();
    expect((await first.call(RIDER, '/rides', ride(key, 'Kencom'))).status).toBe(201);
    await database.db.query(
      `update idempotency_keys set expires_at = now() - interval '1 second' where key = $1`,
      [key],
    );
    const later = await first.call(RIDER, '/rides', ride(key, 'Yaya Centre'));
    expect(later.status).toBe(201);
    expect(later.headers.get('idempotent-replayed')).toBeNull();
    expect(await later.json()).toMatchObject({ pickup: 'Yaya Centre' });
  });

  it('wants a key where the route requires one, and a well-formed one anywhere', async () => {
    const none = await first.call(RIDER, '/rides', send('POST', { pickup: 'A', dropoff: 'B' }));
    expect(none.status).toBe(400);
    expect((await problemOf(none)).detail).toContain('Idempotency-Key');
    const bad = await first.call(
      RIDER,
      '/vehicles',
      send('POST', { plate: 'KZZ 1' }, { 'idempotency-key': 'not a key!' }),
    );
    expect(bad.status).toBe(400);
    // Optional elsewhere: a vehicle registers without one.
    expect((await first.call(RIDER, '/vehicles', send('POST', { plate: 'KZZ 2' }))).status)
      .toBe(201);
  });

  it('keeps keys per user: the same key from two users is two requests', async () => {
    const key = crypto.randomUUID();
    const other = 'b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e';
    expect((await first.call(RIDER, '/rides', ride(key))).status).toBe(201);
    const theirs = await first.call(other, '/rides', ride(key));
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
  });
});
