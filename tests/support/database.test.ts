import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase, testDatabaseKind } from './database.ts';
import { DatabaseUnavailableError } from '../../functions/_shared/db/types.ts';

describe('test database harness', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('targets the engine the run asked for', () => {
    expect(database.kind).toBe(testDatabaseKind());
  });

  it('runs parameterised queries and transactions', async () => {
    await database.db.exec(
      'create table t (id int primary key, v text); insert into t values (1, $$a$$);',
    );
    await expect(
      database.db.transaction(async (tx) => {
        await tx.query('insert into t values ($1, $2)', [2, 'b']);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    const rows = await database.db.query<{ id: number; v: string }>(
      'select id, v from t order by id',
    );
    expect(rows).toEqual([{ id: 1, v: 'a' }]);
  });

  it('reports an unreachable database as DatabaseUnavailableError', async () => {
    const other = await createTestDatabase();
    await other.drop();
    await expect(other.db.query('select 1')).rejects.toBeInstanceOf(DatabaseUnavailableError);
  });
});
