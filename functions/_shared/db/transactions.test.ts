/**
 * `Db.transaction` on either engine: a body that throws or a statement that failed rolls
 * everything back (with the statement's own error), savepoints roll back only their part,
 * and a statement sent too late never runs.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../tests/support/database.ts';
import type { Transaction } from './types.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
  await database.db.exec('create table tx_marks (id int primary key)');
});

afterAll(async () => {
  await database.drop();
});

beforeEach(async () => {
  await database.db.exec('delete from tx_marks');
});

const marks = async () =>
  (await database.db.query<{ id: number }>('select id from tx_marks order by id')).map((row) =>
    row.id
  );

describe('Db.transaction', () => {
  it('commits what the body did, and nothing of a body that throws', async () => {
    await database.db.transaction(async (tx) => {
      await tx.query('insert into tx_marks values (1)');
      await tx.query('insert into tx_marks values (2)');
    });
    const failure = new Error('the body gave up');
    await expect(database.db.transaction(async (tx) => {
      await tx.query('insert into tx_marks values (3)');
      throw failure;
    })).rejects.toBe(failure);
    expect(await marks()).toEqual([1, 2]);
  });

  it('rolls back and reports the failed statement itself when the body caught it', async () => {
    await database.db.query('insert into tx_marks values (1)');
    const outcome = database.db.transaction(async (tx) => {
      await tx.query('insert into tx_marks values (2)');
      await tx.query('insert into tx_marks values (1)').catch(() => 'ignored');
      // Refused by Postgres (the transaction is aborted); the first failure is the news.
      await tx.query('insert into tx_marks values (3)').catch(() => 'ignored');
      return 'done';
    });
    await expect(outcome).rejects.toMatchObject({ code: '23505' });
    expect(await marks()).toEqual([1]);
  });

  it('rolls back only a savepoint whose body failed, and commits the rest', async () => {
    await database.db.transaction(async (tx) => {
      await tx.query('insert into tx_marks values (1)');
      await expect(tx.savepoint(async (inner) => {
        await inner.query('insert into tx_marks values (2)');
        await inner.query('insert into tx_marks values (1)'); // duplicate: fails
      })).rejects.toMatchObject({ code: '23505' });
      const kept = await tx.savepoint(async (inner) => {
        await inner.query('insert into tx_marks values (3)');
        return 'kept';
      });
      expect(kept).toBe('kept');
      await tx.query('insert into tx_marks values (4)');
    });
    expect(await marks()).toEqual([1, 3, 4]);
  });

  it('runs savepoints and scripts in the transaction, and rolls a script back with the body', async () => {
    await database.db.transaction(async (tx) => {
      await tx.savepoint((inner) => inner.query('insert into tx_marks values (1)'));
    });
    await database.db.transaction(async (tx) => {
      await tx.exec('insert into tx_marks values (2); insert into tx_marks values (3)');
      await tx.query('insert into tx_marks values (4)');
    });
    await expect(database.db.transaction(async (tx) => {
      await tx.exec('insert into tx_marks values (5)');
      throw new Error('no');
    })).rejects.toThrow('no');
    expect(await marks()).toEqual([1, 2, 3, 4]);
  });

  it('refuses a statement sent after it ended, which never runs on its own', async () => {
    let kept!: Transaction;
    await database.db.transaction(async (tx) => {
      kept = tx;
      await tx.query('insert into tx_marks values (1)');
    });
    await expect(kept.query('insert into tx_marks values (2)')).rejects.toThrow(/ended/);
    expect(await marks()).toEqual([1]);
  });

  it('frees its connection after a body that sends nothing', async () => {
    const pool = database.connect({ max: 1 });
    expect(await pool.transaction(() => Promise.resolve(42))).toBe(42);
    expect(await pool.query<{ one: number }>('select 1 as one')).toEqual([{ one: 1 }]);
    expect(pool.stats()).toMatchObject({ active: 0, transactions: 0 });
  });
});
