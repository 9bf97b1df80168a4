/**
 * Idempotency-Key against a real race: a retry arrives while the first request with its
 * key waits in the database (a lock held on its table by another session), and gets 409.
 * Needs two sessions at once, so it runs on a Postgres server only (PGlite serves one).
 */
import { describe, expect, it } from 'vitest';
import { send, useApi } from './support/api.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const database = useMigratedDatabase();
const first = useApi(database);
const second = useApi(database);
const RIDER = 'e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7a8b';

const ride = (key: string) =>
  send('POST', { pickup: 'Kencom', dropoff: 'Westlands' }, { 'idempotency-key': key });

describe('Idempotency-Key under a race', () => {
  it('answers 409 to a retry that races a first request held up in the database', async () => {
    const key = crypto.randomUUID();
    const holder = database.connect({ max: 1 });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let lockTaken!: () => void;
    const taken = new Promise<void>((resolve) => (lockTaken = resolve));
    const locked = holder.transaction(async (tx) => {
      await tx.exec('lock table public.rides in exclusive mode');
      lockTaken();
      await released;
    });
    await taken;
    try {
      const running = first.call(RIDER, '/rides', ride(key));
      await expect.poll(async () =>
        (await database.db.query(`select state from idempotency_keys where key = $1`, [key]))[0]
          ?.state
      ).toBe('running');
      expect((await second.call(RIDER, '/rides', ride(key))).status).toBe(409);
      release();
      await locked;
      expect((await running).status).toBe(201);
    } finally {
      release();
      await locked.catch(() => {});
      await holder.close();
    }
  });
});
