/**
 * The user API's read functions (`gatehouse.vehicles_page`, `rides_page`, `qr_codes_page`)
 * called with `callAsUser`: one statement that reads as the caller under row-level security,
 * that only the service role may call, and that leaves the transaction's role and claims as
 * it found them. The pages they answer are the rows the API answers one by one.
 */
import { describe, expect, it } from 'vitest';
import { type AuthUser, callAsUser, readAsUser } from '../functions/_shared/auth/index.ts';
import type { Queryable } from '../functions/_shared/db/types.ts';
import { QR_CODES } from '../functions/api/qr.ts';
import { RIDES } from '../functions/api/rides.ts';
import { getRow, type ListedTable, listPage } from '../functions/api/rows.ts';
import { VEHICLES } from '../functions/api/vehicles.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { asRole, sqlState } from './support/rls.ts';

const ADA = '1d5e6f70-8a9b-4c0d-9e1f-2a3b4c5d6e7f';
const BOB = '2e6f7081-9bac-4d1e-8f20-3b4c5d6e7f80';
const CY = '3f708192-abcd-4e2f-9031-4c5d6e7f8091';
const PAGE_FUNCTIONS = [VEHICLES, RIDES, QR_CODES].map((spec) => spec.pageFunction);

const database = useMigratedDatabase({
  setup: `
    insert into vehicles (owner_user_id, plate) values
      ('${ADA}', 'ADA 1'), ('${ADA}', 'ADA 2'), ('${BOB}', 'BOB 1');
    insert into rides (passenger_user_id, driver_user_id, pickup, dropoff) values
      ('${ADA}', '${BOB}', 'Kimironko', 'Nyamirambo'), ('${CY}', null, 'Remera', 'Kacyiru');
    insert into qr_generations (user_id, payload) values ('${ADA}', '*182*8*1*4000#');
  `,
});

const user = (id: string): AuthUser => ({
  id,
  role: 'user',
  email: null,
  claims: { sub: id, role: 'authenticated', aud: 'authenticated' },
});
const firstPage = [null, null, 50];

describe('read functions', () => {
  it('answer each caller the rows the policies give them, and nobody else’s', async () => {
    const plates = async (id: string) =>
      (await callAsUser(database.db, user(id), 'gatehouse.vehicles_page', firstPage))
        .map((row) => row.plate).sort();
    expect(await plates(ADA)).toEqual(['ADA 1', 'ADA 2']);
    expect(await plates(BOB)).toEqual(['BOB 1']);
    expect(await plates(CY)).toEqual([]);

    // A driver sees the ride assigned to them; a passenger their own; nobody the others'.
    const pickups = async (id: string) =>
      (await callAsUser(database.db, user(id), 'gatehouse.rides_page', firstPage))
        .map((row) => row.pickup);
    expect(await pickups(ADA)).toEqual(['Kimironko']);
    expect(await pickups(BOB)).toEqual(['Kimironko']);
    expect(await pickups(CY)).toEqual(['Remera']);

    const codes = async (id: string) =>
      (await callAsUser(database.db, user(id), 'gatehouse.qr_codes_page', firstPage)).length;
    expect([await codes(ADA), await codes(BOB)]).toEqual([1, 0]);
  });

  it('answer a caller whose token names no subject nothing at all', async () => {
    const nobody: AuthUser = { id: '', role: 'user', email: null, claims: { role: 'anon' } };
    for (const fn of PAGE_FUNCTIONS) {
      expect({ fn, rows: await callAsUser(database.db, nobody, fn, firstPage) })
        .toEqual({ fn, rows: [] });
    }
  });

  it('leave the role and the claims of the transaction they ran in as they were', async () => {
    const settings = async (q: Queryable) =>
      (await q.query<{ role: string; sub: string | null }>(
        `select current_user as role, current_setting('request.jwt.claim.sub', true) as sub`,
      ))[0];
    const before = await database.db.transaction(async (tx) => await settings(tx));
    // A service-role transaction: the statements after the read still run as the service.
    const after = await database.db.transaction(async (tx) => {
      await callAsUser(tx, user(ADA), 'gatehouse.vehicles_page', firstPage);
      return await settings(tx);
    });
    expect(after).toEqual(before);
    // A transaction of the service role with another caller's claims set: after the read,
    // still the service role with those claims, and they still decide what that caller sees.
    const mixed = await database.db.transaction(async (tx) => {
      await tx.query(`select set_config('request.jwt.claim.sub', $1, true)`, [BOB]);
      await tx.exec('set local role service_role');
      const rows = await callAsUser(tx, user(ADA), 'gatehouse.vehicles_page', firstPage);
      const settingsAfter = await settings(tx);
      await tx.exec('set local role authenticated');
      return {
        read: rows.map((row) => row.plate).sort(),
        after: settingsAfter,
        plates: (await tx.query('select plate from vehicles')).map((row) => row.plate),
      };
    });
    expect(mixed).toEqual({
      read: ['ADA 1', 'ADA 2'],
      after: { role: 'service_role', sub: BOB },
      plates: ['BOB 1'],
    });
  });

  it('may be called by the service role only: whoever calls one can read as anyone', async () => {
    for (const fn of PAGE_FUNCTIONS) {
      const call = `select * from ${fn}('{}', '${ADA}', null, null, 10)`;
      for (const role of ['anon', 'authenticated'] as const) {
        const state = await asRole(database.db, role, (tx) => sqlState(() => tx.query(call)));
        expect({ fn, role, state }).toEqual({ fn, role, state: '42501' });
      }
      const state = await asRole(
        database.db,
        'service_role',
        (tx) => sqlState(() => tx.query(call)),
      );
      expect({ fn, state }).toEqual({ fn, state: 'ok' });
    }
    // Any function that takes a caller's claims, now or later, is the service role's alone.
    const open = await database.db.query(
      `select p.oid::regprocedure::text as fn, r.role
         from pg_proc p
         cross join unnest(array['anon', 'authenticated', 'service_role']) as r(role)
        where 'p_claims' = any(p.proargnames)
          and has_function_privilege(r.role, p.oid, 'execute') <> (r.role = 'service_role')`,
    );
    expect(open).toEqual([]);
    const takers = await database.db.query(
      `select count(*)::int as n from pg_proc where 'p_claims' = any(proargnames)`,
    );
    expect(takers[0]!.n).toBeGreaterThanOrEqual(PAGE_FUNCTIONS.length);
  });

  it('answer the rows the API answers one by one, column for column', async () => {
    const specs: ListedTable[] = [VEHICLES, RIDES, QR_CODES];
    for (const spec of specs) {
      for (const id of [ADA, BOB, CY]) {
        const page = await listPage(database.db, user(id), spec, { limit: 50 });
        const single = await Promise.all(
          page.items.map((item) =>
            readAsUser(database.db, user(id), (q) => getRow(q, spec, item.id as string))
          ),
        );
        // The page writes timestamps as JSON does; the row answered alone is JSON-encoded too.
        expect({ table: spec.table, items: page.items })
          .toEqual({ table: spec.table, items: JSON.parse(JSON.stringify(single)) });
      }
    }
  });

  it('are called by name only: anything else is refused, and nothing runs', async () => {
    const count = async () =>
      (await database.db.query<{ n: number }>('select count(*)::int as n from vehicles'))[0]!.n;
    const before = await count();
    await expect(
      callAsUser(database.db, user(ADA), 'gatehouse.vehicles_page(); delete from vehicles; --', []),
    ).rejects.toThrow(/not a function's name/);
    expect(await count()).toBe(before);
  });
});
