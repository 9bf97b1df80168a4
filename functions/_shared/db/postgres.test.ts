/**
 * The postgres.js pool behind `Db`: GATEHOUSE_DB_PREPARE (the pool's `prepare`) decides
 * whether parameterised queries become named prepared statements, on either engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../tests/support/database.ts';
import { createPostgresDb } from './postgres.ts';

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
