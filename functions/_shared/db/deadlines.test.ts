/**
 * Every wait on the database is bounded: a statement or a transaction's connection past its
 * deadline rejects with DatabaseTimeoutError (503 upstream), the server's own bounds end
 * what the client stopped waiting for, and the pool says what it is doing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBlackHole } from '../../../tests/support/black-hole.ts';
import { createTestDatabase, type TestDatabase } from '../../../tests/support/database.ts';
import { createPostgresDb, MAX_RECONNECT_DELAY_MS, reconnectDelaySeconds } from './postgres.ts';
import { DatabaseTimeoutError, DatabaseUnavailableError } from './types.ts';

let database: TestDatabase;
let hole: Awaited<ReturnType<typeof startBlackHole>>;

beforeAll(async () => {
  database = await createTestDatabase();
  await database.db.exec('create table deadline_marks (id int primary key)');
  hole = await startBlackHole();
});

afterAll(async () => {
  await hole.close();
  await database.drop();
});

/** A pool on a server that accepts connections and never answers. */
function hungPool(timeoutMs: number) {
  return createPostgresDb({ url: `postgres://u@127.0.0.1:${hole.port}/db`, max: 1, timeoutMs });
}

async function elapsed<T>(work: Promise<T>): Promise<{ ms: number; error: unknown }> {
  const started = performance.now();
  try {
    await work;
    return { ms: performance.now() - started, error: null };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

describe('client-side deadlines', () => {
  it('rejects a statement the server never answers at the pool deadline', async () => {
    const db = hungPool(300);
    try {
      const { ms, error } = await elapsed(db.query('select 1'));
      expect(error).toBeInstanceOf(DatabaseTimeoutError);
      expect(error).toBeInstanceOf(DatabaseUnavailableError); // so it answers 503
      expect(ms).toBeGreaterThanOrEqual(290);
      expect(ms).toBeLessThan(1_500);
      expect(db.stats()).toMatchObject({ timeouts: 1, active: 0 });
      expect(db.stats().lastTimeoutAgoMs).toBeLessThan(5_000);
    } finally {
      await db.close(0);
    }
  });

  it('lets one call wait longer or shorter than the pool deadline', async () => {
    const db = hungPool(10_000);
    try {
      const { ms, error } = await elapsed(db.query('select 1', [], { timeoutMs: 200 }));
      expect(error).toBeInstanceOf(DatabaseTimeoutError);
      expect(ms).toBeLessThan(1_500);
    } finally {
      await db.close(0);
    }
  });

  it('gives up on a transaction that gets no connection, and never runs its body later', async () => {
    const pool = database.connect({ max: 1 });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const holds = new Promise<void>((resolve) => (holding = resolve));
    const first = pool.transaction(async (tx) => {
      await tx.query('select 1');
      holding();
      await held;
    });
    await holds;
    let ran = false;
    const { ms, error } = await elapsed(
      pool.transaction(async (tx) => {
        ran = true;
        await tx.query('insert into deadline_marks values (1)');
      }, { timeoutMs: 250 }),
    );
    expect(error).toBeInstanceOf(DatabaseTimeoutError);
    expect(ms).toBeLessThan(2_000);
    release();
    await first;
    // The abandoned transaction got its connection now, and must have rolled back at once.
    await pool.query('select 1');
    expect(ran).toBe(false);
    expect(await database.db.query('select id from deadline_marks')).toEqual([]);
  });

  it('counts statements and transactions in flight', async () => {
    const pool = database.connect({ max: 1 });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let inside!: () => void;
    const entered = new Promise<void>((resolve) => (inside = resolve));
    const open = pool.transaction(async () => {
      inside();
      await held;
    });
    await entered;
    expect(pool.stats()).toMatchObject({ max: 1, active: 1, transactions: 1, timeouts: 0 });
    release();
    await open;
    expect(pool.stats()).toMatchObject({ active: 0, transactions: 0, oldestMs: 0 });
  });
});

describe('the probe connection', () => {
  it('answers on a connection of its own', async () => {
    const pool = database.connect({ max: 1 });
    expect(await pool.probe(1_000).query('select 2 as two')).toEqual([{ two: 2 }]);
    expect(pool.stats().active).toBe(0); // not counted as the pool's work
  });

  it('reports a server that does not answer as a timeout, not a hang', async () => {
    const db = hungPool(10_000);
    try {
      const { ms, error } = await elapsed(db.probe(300).query('select 1'));
      expect(error).toBeInstanceOf(DatabaseTimeoutError);
      expect(ms).toBeLessThan(1_500);
    } finally {
      await db.close(0);
    }
  });
});

describe('reconnect backoff', () => {
  it('starts at tens of milliseconds and never waits more than the cap', () => {
    expect(reconnectDelaySeconds(0, () => 1)).toBeCloseTo(0.025);
    expect(reconnectDelaySeconds(3, () => 1)).toBeCloseTo(0.2);
    for (const retries of [5, 10, 50, 1_000]) {
      expect(reconnectDelaySeconds(retries, () => 1)).toBe(MAX_RECONNECT_DELAY_MS / 1000);
      expect(reconnectDelaySeconds(retries, () => 0)).toBe(MAX_RECONNECT_DELAY_MS / 2000);
    }
  });
});

// Two sessions at once, and timers inside the server: real Postgres only (the embedded
// PGlite runs one session and enforces neither bound).
if (process.env.TEST_DATABASE_URL) {
  describe('two sessions (Postgres)', () => {
    it('probes beside a pool whose only connection is held by a transaction', async () => {
      const pool = database.connect({ max: 1 });
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let inside!: () => void;
      const entered = new Promise<void>((resolve) => (inside = resolve));
      const open = pool.transaction(async () => {
        inside();
        await held;
      });
      await entered;
      try {
        expect(await pool.probe(1_000).query('select 2 as two')).toEqual([{ two: 2 }]);
      } finally {
        release();
        await open;
      }
    });
  });

  describe('server-side bounds (Postgres)', () => {
    it('ends a lock wait at lock_timeout with a DatabaseTimeoutError', async () => {
      const bounded = createPostgresDb({ url: database.url, max: 1, lockTimeoutMs: 200 });
      const holder = database.connect({ max: 1 });
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const holding = holder.transaction(async (tx) => {
        await tx.query('lock table deadline_marks in access exclusive mode');
        locked();
        await held;
      });
      await isLocked;
      try {
        const { ms, error } = await elapsed(bounded.query('select count(*) from deadline_marks'));
        expect(error).toBeInstanceOf(DatabaseTimeoutError);
        expect((error as Error & { cause?: { code?: string } }).cause?.code).toBe('55P03');
        expect(ms).toBeLessThan(2_000);
      } finally {
        release();
        await holding;
        await bounded.close(0);
      }
    });

    it('ends a statement at statement_timeout with a DatabaseTimeoutError', async () => {
      const bounded = createPostgresDb({ url: database.url, max: 1, statementTimeoutMs: 200 });
      try {
        const { ms, error } = await elapsed(bounded.query('select pg_sleep(5)'));
        expect(error).toBeInstanceOf(DatabaseTimeoutError);
        expect((error as Error & { cause?: { code?: string } }).cause?.code).toBe('57014');
        expect(ms).toBeLessThan(2_000);
        // The connection is usable again at once.
        expect(await bounded.query('select 1 as one')).toEqual([{ one: 1 }]);
      } finally {
        await bounded.close(0);
      }
    });
  });
}
