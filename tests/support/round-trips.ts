import type { Db, Queryable, Transaction } from '../../functions/_shared/db/types.ts';

/**
 * `db`, counting the waits of each transaction's body: each statement sent while none of
 * the transaction's statements was awaiting an answer (a statement sent behind one still
 * in flight rides in the same round trip). BEGIN, answered before the body runs, and the
 * COMMIT that goes out behind the body's last statement are not counted.
 */
export function countingRoundTrips(db: Db): { db: Db; transactions: number[] } {
  const transactions: number[] = [];
  const counting = (tx: Transaction, index: number): Transaction => {
    let inFlight = 0;
    const sent = <T>(run: () => Promise<T>): Promise<T> => {
      if (inFlight === 0) transactions[index]! += 1;
      inFlight += 1;
      return run().finally(() => {
        inFlight -= 1;
      });
    };
    return {
      query:
        ((text: string, values?: readonly unknown[], ...options: unknown[]) =>
          sent(() =>
            (tx.query as (...args: unknown[]) => Promise<unknown[]>)(text, values, ...options)
          )) as Queryable['query'],
      exec: (text) => sent(() => tx.exec(text)),
      savepoint: (fn) => tx.savepoint((inner) => fn(counting(inner, index))),
    };
  };
  const wrapped: Db = Object.create(db);
  wrapped.transaction = (fn, options) =>
    db.transaction((tx) => {
      transactions.push(0);
      return fn(counting(tx, transactions.length - 1));
    }, options);
  return { db: wrapped, transactions };
}
