import { describe, expect, it } from 'vitest';
import type { Db } from '../../functions/_shared/db/types.ts';
import { freshDatabasePerTest } from '../../tests/support/database.ts';
import { BOOTSTRAP_SQL } from '../bootstrap.ts';

const freshDatabase = freshDatabasePerTest();

const USER_ID = '6f1c2a3e-8d4b-4f6a-9c2e-1b7d5e3a9f00';
const CLAIMS = JSON.stringify({ sub: USER_ID, role: 'authenticated', email: 'ada@example.com' });

/** Runs the bootstrap and says whether it wrote anything (a write assigns a transaction id). */
async function bootstrap(db: Db): Promise<{ wrote: boolean }> {
  return await db.transaction(async (tx) => {
    await tx.exec(BOOTSTRAP_SQL);
    const [row] = await tx.query<{ wrote: boolean }>(
      'select pg_current_xact_id_if_assigned() is not null as wrote',
    );
    return { wrote: row!.wrote };
  });
}

async function authValues(
  db: Db,
  setup: (tx: Parameters<Parameters<Db['transaction']>[0]>[0]) => Promise<unknown>,
) {
  return await db.transaction(async (tx) => {
    await setup(tx);
    const [row] = await tx.query<{ uid: string | null; role: string | null; jwt: unknown }>(
      'select auth.uid() as uid, auth.role() as role, auth.jwt() as jwt',
    );
    return row;
  });
}

describe('bootstrap', () => {
  it('creates the Supabase roles, with bypassrls only for service_role', async () => {
    const { db } = await freshDatabase();
    await bootstrap(db);

    const roles = await db.query<{ rolname: string; rolcanlogin: boolean; rolbypassrls: boolean }>(
      `select rolname, rolcanlogin, rolbypassrls from pg_roles
       where rolname in ('anon', 'authenticated', 'service_role') order by rolname`,
    );
    expect(roles).toEqual([
      { rolname: 'anon', rolcanlogin: false, rolbypassrls: false },
      { rolname: 'authenticated', rolcanlogin: false, rolbypassrls: false },
      { rolname: 'service_role', rolcanlogin: false, rolbypassrls: true },
    ]);
  });

  it('changes nothing when run again', async () => {
    const { db } = await freshDatabase();
    expect(await bootstrap(db)).toEqual({ wrote: true });

    expect(await bootstrap(db)).toEqual({ wrote: false });
  });

  it('works where the roles already exist', async () => {
    const { db } = await freshDatabase();
    // Roles are cluster-wide: on Postgres another test file may already have made them.
    await db.exec(`
      do $$ begin
        if not exists (select from pg_roles where rolname = 'anon') then
          create role anon nologin noinherit;
        end if;
        if not exists (select from pg_roles where rolname = 'authenticated') then
          create role authenticated nologin noinherit;
        end if;
        if not exists (select from pg_roles where rolname = 'service_role') then
          create role service_role nologin noinherit bypassrls;
        end if;
      exception when duplicate_object or unique_violation then null;
      end $$;
    `);

    await bootstrap(db);

    const values = await authValues(
      db,
      (tx) => tx.query(`select set_config('request.jwt.claims', $1, true)`, [CLAIMS]),
    );
    expect(values?.uid).toBe(USER_ID);
  });

  it('keeps auth functions that already exist (Supabase owns them)', async () => {
    const { db } = await freshDatabase();
    await db.exec(`
      create schema auth;
      create function auth.uid() returns uuid language sql stable
        as $$ select '00000000-0000-0000-0000-000000000001'::uuid $$;
    `);

    await bootstrap(db);

    const values = await authValues(
      db,
      (tx) => tx.query(`select set_config('request.jwt.claims', $1, true)`, [CLAIMS]),
    );
    expect(values).toMatchObject({
      uid: '00000000-0000-0000-0000-000000000001',
      role: 'authenticated',
    });
  });

  it('auth.uid(), auth.role() and auth.jwt() read request.jwt.claims, as each API role', async () => {
    const { db } = await freshDatabase();
    await bootstrap(db);

    for (const role of ['anon', 'authenticated', 'service_role']) {
      const values = await authValues(db, async (tx) => {
        await tx.query(`select set_config('request.jwt.claims', $1, true)`, [CLAIMS]);
        await tx.exec(`set local role ${role}`);
      });
      expect(values).toEqual({ uid: USER_ID, role: 'authenticated', jwt: JSON.parse(CLAIMS) });
    }
  });

  it('auth functions return null when no claims are set', async () => {
    const { db } = await freshDatabase();
    await bootstrap(db);
    // A claim set locally in an earlier transaction leaves an empty setting behind.
    await authValues(
      db,
      (tx) => tx.query(`select set_config('request.jwt.claims', $1, true)`, [CLAIMS]),
    );

    const values = await authValues(db, () => Promise.resolve());

    expect(values).toEqual({ uid: null, role: null, jwt: null });
  });

  it('auth.uid() accepts the legacy request.jwt.claim.sub setting', async () => {
    const { db } = await freshDatabase();
    await bootstrap(db);

    const values = await authValues(
      db,
      (tx) => tx.query(`select set_config('request.jwt.claim.sub', $1, true)`, [USER_ID]),
    );

    expect(values?.uid).toBe(USER_ID);
  });
});
