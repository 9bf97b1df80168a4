import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresDb } from '../db/postgres.ts';
import { freePort } from '../../../tests/support/process.ts';
import { noUnhandledRejections } from '../../../tests/support/rejections.ts';
import { JobTransactionClosedError, lazyTransaction } from './lazy-transaction.ts';

noUnhandledRejections();

/** A real pool on a port nothing listens on: every BEGIN fails to connect. */
const unreachable = createPostgresDb({
  url: `postgres://postgres@127.0.0.1:${await freePort()}/postgres`,
  max: 1,
  connectTimeoutSeconds: 1,
});
afterAll(() => unreachable.close(0));

describe('a job transaction whose BEGIN fails', () => {
  it('fails the handler’s statement and the transaction, and is discarded without an unhandled rejection', async () => {
    const failures: unknown[] = [];
    const lazy = lazyTransaction(unreachable, (error) => failures.push(error));
    const error = await lazy.tx.query('select 1').catch((reason) => reason);
    expect(error).toMatchObject({ name: 'DatabaseUnavailableError' });
    expect(lazy.used).toBe(true);
    expect(failures).toEqual([error]);
    // What the worker does with the handler's error: roll back a transaction that never began.
    await expect(lazy.discard(error)).resolves.toBeUndefined();
  });

  it('rejects a commit the same way, without a second rejection nobody reads', async () => {
    const lazy = lazyTransaction(unreachable, () => {});
    await expect(lazy.tx.exec('select 1')).rejects.toThrow();
    await expect(lazy.commit(() => Promise.resolve())).rejects.toThrow();
  });
});

describe('a job transaction after the job ended', () => {
  it('refuses a statement the handler sends late instead of opening a transaction', async () => {
    for (const end of ['discard', 'close'] as const) {
      const lazy = lazyTransaction(unreachable, () => {});
      if (end === 'discard') await lazy.discard(new Error('the handler timed out'));
      else lazy.close();
      await expect(lazy.tx.query('select 1')).rejects.toBeInstanceOf(JobTransactionClosedError);
      expect(lazy.used).toBe(false);
    }
  });
});
