/**
 * The postgres.js pool behind `Db`: GATEHOUSE_DB_PREPARE (the pool's `prepare`) decides
 * whether parameterised queries become named prepared statements, on either engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../tests/support/database.ts';
import { createPostgresDb } from './postgres.ts';
import { DatabaseTimeoutError, typed } from './types.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

/**
 * Runs one parameterised query twice on a one-connection pool and lists the named
 * statements holding its text (marked, since the embedded PGlite has one session for all).
 */
async function preparedAfterTwoQueries(prepare: boolean | undefined): Promise<string[]> {
  const db = createPostgresDb({ url: database.url, max: 1, prepare });
  const marker = `q_${crypto.randomUUID().replaceAll('-', '')}`;
  const text = `select $1::int * 2 as ${marker}`;
  try {
    for (const n of [1, 2]) {
      const [row] = await db.query<Record<string, number>>(text, [n]);
      expect(row![marker]).toBe(n * 2);
    }
    const rows = await db.query<{ statement: string }>(
      'select statement from pg_prepared_statements where statement = $1',
      [text],
    );
    return rows.map((row) => row.statement);
  } finally {
    await db.close();
  }
}

describe('createPostgresDb prepare', () => {
  it('prepares a parameterised query once per connection when prepare is on', async () => {
    expect(await preparedAfterTwoQueries(true)).toHaveLength(1);
  });

  it('keeps no named statement when prepare is off, as by default (transaction pooler)', async () => {
    expect(await preparedAfterTwoQueries(false)).toEqual([]);
    expect(await preparedAfterTwoQueries(undefined)).toEqual([]);
  });
});

describe('createPostgresDb typed parameters', () => {
  for (const prepare of [false, true]) {
    it(`sends each declared type with its value, null included (${prepare ? 'named' : 'unnamed'} statements)`, async () => {
      const db = createPostgresDb({ url: database.url, max: 1, prepare });
      const when = new Date('2026-12-06T10:00:00.123Z');
      try {
        const values = [
          typed('plain', 'text'),
          typed({ nested: [1, 'two'] }, 'jsonb'),
          typed(41, 'int4'),
          typed('9007199254740993', 'int8'),
          typed(true, 'bool'),
          typed(when, 'timestamptz'),
          typed('6f1c2a40-0000-4000-8000-000000000001', 'uuid'),
          typed(null, 'int8'),
        ];
        // Untyped, `pg_typeof($n)` would say text (or fail to choose) for every one.
        const text = `select ${
          values.map((_, i) => `pg_typeof($${i + 1})::text as t${i}`).join(', ')
        }, $2 -> 'nested' ->> 1 as two, $3 + 1 as n, $4 + 0 as big, $6 as at, $8 is null as absent`;
        const [row] = await db.query(text, values);
        expect(row).toEqual({
          t0: 'text',
          t1: 'jsonb',
          t2: 'integer',
          t3: 'bigint',
          t4: 'boolean',
          t5: 'timestamp with time zone',
          t6: 'uuid',
          t7: 'bigint',
          two: 'two',
          n: 42,
          big: '9007199254740993',
          at: when,
          absent: true,
        });
        const [[batched]] = await db.batch([
          { text: 'select pg_typeof($1)::text as t, $1 as v', values: [typed('7', 'int8')] },
        ]) as [[Record<string, unknown>]];
        expect(batched).toEqual({ t: 'bigint', v: '7' });
        // The health probe's own connection takes them the same way.
        const [probed] = await db.probe(2_000).query(
          'select pg_typeof($1)::text as t, $1 as v, $2 -> 0 as first',
          [typed(['a', 'b'], 'text[]'), typed([1, 2], 'jsonb')],
        );
        expect(probed).toEqual({ t: 'text[]', v: ['a', 'b'], first: 1 });
      } finally {
        await db.close();
      }
    });
  }
});

describe('createPostgresDb batch', () => {
  for (const prepare of [false, true]) {
    describe(prepare ? 'with named statements' : 'without named statements', () => {
      it('runs the statements in one transaction and returns each one rows', async () => {
        const db = createPostgresDb({ url: database.url, max: 1, prepare });
        try {
          const results = await db.batch([
            {
              text: `select set_config('app.note', $1, true) as note, txid_current()::text as tx`,
              values: ['batched'],
            },
            { text: `select current_setting('app.note') as note, $1::int + 1 as n`, values: [1] },
            { text: `select txid_current()::text as tx` },
          ]);
          const tx = (results[0]![0] as { tx: string }).tx;
          expect(results).toEqual([
            [{ note: 'batched', tx }],
            [{ note: 'batched', n: 2 }],
            [{ tx }], // the first statement's transaction
          ]);
          // The setting was the transaction's own: gone with it, in a transaction of its own.
          const [after] = await db.query(
            `select current_setting('app.note', true) as note, txid_current()::text as tx`,
          );
          expect(after!.note ?? '').toBe('');
          expect(after!.tx).not.toBe(tx);
        } finally {
          await db.close();
        }
      });

      it("answers each statement's rows in a plain array of its own, not the driver's", async () => {
        const db = createPostgresDb({ url: database.url, max: 1, prepare });
        try {
          const [rows] = await db.batch([{ text: 'select n from generate_series(1, 3) n' }]);
          // The driver's result arrays are emptied (ownRows in postgres.ts): the rows must
          // have been copied out first, into an array with nothing of the driver's on it.
          expect(rows).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
          expect(Object.getPrototypeOf(rows)).toBe(Array.prototype);
          expect(Object.keys(rows!)).toEqual(['0', '1', '2']);
        } finally {
          await db.close();
        }
      });

      it('rolls back every statement when one fails, throws that failure, and keeps the connection usable', async () => {
        const db = createPostgresDb({ url: database.url, max: 1, prepare });
        const table = `batch_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;
        try {
          await db.exec(`create table ${table} (n int primary key)`);
          const failing = db.batch([
            { text: `insert into ${table} values ($1)`, values: [1] },
            { text: `select 1 / $1::int`, values: [0] },
            { text: `insert into ${table} values ($1)`, values: [2] },
          ]);
          await expect(failing).rejects.toMatchObject({ code: '22012' }); // division_by_zero
          expect(await db.query(`select n from ${table}`)).toEqual([]);
          expect(await db.batch([{ text: `select $1::int as n`, values: [7] }])).toEqual([
            [{ n: 7 }],
          ]);
        } finally {
          await db.exec(`drop table if exists ${table}`);
          await db.close();
        }
      });
    });
  }

  it('waits no longer than its deadline for a connection, and gives the connection back', async () => {
    const db = createPostgresDb({ url: database.url, max: 1 });
    try {
      let release!: () => void;
      let started!: () => void;
      const holds = new Promise<void>((resolve) => (started = resolve));
      const holding = db.transaction(() => {
        started();
        return new Promise<void>((resolve) => (release = resolve));
      });
      await holds; // the transaction holds the pool's one connection
      await expect(db.batch([{ text: 'select 1 as one' }], { timeoutMs: 200 })).rejects.toThrow(
        DatabaseTimeoutError,
      );
      release();
      await holding;
      expect(await db.batch([{ text: 'select 1 as one' }])).toEqual([[{ one: 1 }]]);
      expect(db.stats().transactions).toBe(0);
    } finally {
      await db.close();
    }
  });
  it('answers a statement past its deadline with DatabaseTimeoutError, and counts the connection held until it is back', async () => {
    const db = createPostgresDb({ url: database.url, max: 1 });
    try {
      await expect(db.batch([{ text: 'select pg_sleep(0.5)' }], { timeoutMs: 100 })).rejects
        .toThrow(DatabaseTimeoutError);
      // The sleep still runs on the connection: the pool shows it taken.
      expect(db.stats().transactions).toBe(1);
      expect(await db.batch([{ text: 'select 1 as one' }])).toEqual([[{ one: 1 }]]);
      expect(db.stats().transactions).toBe(0);
    } finally {
      await db.close();
    }
  });
});
