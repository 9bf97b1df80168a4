import type { Db, Transaction } from '../../functions/_shared/db/types.ts';

export type ApiRole = 'anon' | 'authenticated' | 'service_role';

/**
 * Runs `fn` as PostgREST would for a request with this role and JWT claims: in a
 * transaction with `set local role` and `request.jwt.claims`. Rolls back afterwards, so
 * attempts to break RLS leave nothing behind either way.
 */
export async function asRole<T>(
  db: Db,
  role: ApiRole,
  fn: (tx: Transaction) => Promise<T>,
  claims: Record<string, unknown> = { role },
): Promise<T> {
  const rollback = new Error('rollback');
  let result: T | undefined;
  try {
    await db.transaction(async (tx) => {
      await tx.query(`select set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
      // Role names cannot be parameters; `role` is one of three literals.
      await tx.exec(`set local role ${role}`);
      result = await fn(tx);
      throw rollback;
    });
  } catch (error) {
    if (error !== rollback) throw error;
  }
  return result as T;
}

/** The SQLSTATE of a failed statement, or 'ok' when it succeeded. */
export async function sqlState(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return 'ok';
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? code : String(error);
  }
}
