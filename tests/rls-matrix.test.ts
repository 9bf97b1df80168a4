/**
 * The row-level-security matrix over every table in `public`, found in the catalogue: RLS
 * is on and every table has a policy; anon reads and writes nothing; signed-in user A can
 * neither see, change, delete nor create user B's rows (checked from the service role's
 * side: B's rows are left exactly as they were); the service role reaches everything. A
 * table the matrix does not know fails it until it is classified below.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Queryable, Row } from '../functions/_shared/db/types.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { asRole, sqlState } from './support/rls.ts';

const database = useMigratedDatabase();

const A = 'aaaaaaaa-0000-4000-8000-000000000001';
const B = 'bbbbbbbb-0000-4000-8000-000000000002';
const C = 'cccccccc-0000-4000-8000-000000000003';

interface UserTable {
  /** Columns that make a row someone's: a user reaches the rows naming them here. */
  readonly owners: readonly string[];
  /** Makes a row belonging to `user` as the service role; returns its id. */
  seed(db: Queryable, user: string): Promise<string>;
}

const one = async (db: Queryable, sql: string, values: unknown[]) =>
  String((await db.query<{ id: string }>(sql, values))[0]!.id);

/** Tables users own rows of. */
const USER_TABLES: Record<string, UserTable> = {
  profiles: {
    owners: ['id'],
    seed: (db, user) =>
      one(db, `insert into profiles (id, display_name) values ($1, 'P') returning id`, [user]),
  },
  vehicles: {
    owners: ['owner_user_id'],
    seed: (db, user) =>
      one(
        db,
        `insert into vehicles (owner_user_id, plate) values ($1, $2) returning id`,
        [user, `KAA ${user.slice(0, 3).toUpperCase()}`],
      ),
  },
  rides: {
    owners: ['passenger_user_id', 'driver_user_id'],
    seed: (db, user) =>
      one(
        db,
        `insert into rides (passenger_user_id, pickup, dropoff) values ($1, 'Here', 'There')
         returning id`,
        [user],
      ),
  },
  qr_generations: {
    owners: ['user_id'],
    seed: (db, user) =>
      one(db, `insert into qr_generations (user_id, payload) values ($1, '*123#') returning id`, [
        user,
      ]),
  },
  vehicle_ocr_jobs: {
    owners: ['user_id'],
    seed: (db, user) =>
      one(
        db,
        `insert into vehicle_ocr_jobs (user_id, image_path) values ($1, 'papers.jpg') returning id`,
        [user],
      ),
  },
  ride_payments: {
    owners: ['user_id'],
    seed: (db, user) =>
      one(
        db,
        `insert into ride_payments (provider, provider_payment_id, user_id, status)
         values ('stripe', 'pi_' || $1, $1::uuid, 'succeeded') returning id`,
        [user],
      ),
  },
  whatsapp_conversations: {
    owners: ['id'],
    seed: (db, user) =>
      one(
        db,
        `with profile as (
           insert into profiles (id, display_name) values ($1, 'P') on conflict (id) do nothing
         )
         insert into whatsapp_conversations (id, flow) values ($1, 'ride') returning id`,
        [user],
      ),
  },
};

/** Tables of the platform: the service role's alone; signed-in users may read the ones listed. */
const PLATFORM_TABLES: Record<string, { usersRead: boolean }> = {
  alerts: { usersRead: false },
  audit_logs: { usersRead: false },
  circuit_breakers: { usersRead: false },
  dead_jobs: { usersRead: false },
  feature_flags: { usersRead: true },
  idempotency_keys: { usersRead: false },
  inbound_events: { usersRead: false },
  jobs: { usersRead: false },
  outbound_events: { usersRead: false },
  outbound_messages: { usersRead: false },
  queue_settings: { usersRead: false },
  rate_limits: { usersRead: false },
  slow_jobs: { usersRead: false },
  system_metrics: { usersRead: false },
  webhook_deliveries: { usersRead: false },
  webhook_endpoint_secrets: { usersRead: false },
  webhook_endpoints: { usersRead: false },
  whatsapp_logs: { usersRead: false },
};

const claims = (sub: string) => ({ role: 'authenticated', sub, aud: 'authenticated' });
/** Rows of `table` as the service role sees them, by id. */
const snapshot = (table: string, id: string) =>
  database.db.query(`select to_jsonb(t) as row from ${table} t where id = $1`, [id]);
/** `sql` as user `sub`; its rows, or its SQLSTATE when refused. */
const asUser = (sub: string, sql: string, values: unknown[] = []) =>
  asRole(database.db, 'authenticated', async (tx) => {
    try {
      return await tx.query(sql, values);
    } catch (error) {
      return String((error as { code?: string }).code ?? error);
    }
  }, claims(sub));
const asAnon = (sql: string, values: unknown[] = []) =>
  asRole(database.db, 'anon', async (tx) => {
    try {
      return await tx.query(sql, values);
    } catch (error) {
      return String((error as { code?: string }).code ?? error);
    }
  });
/** Refused outright (42501) or touching no row: either way nothing happened. */
const NOTHING = (result: Row[] | string) =>
  result === '42501' || (Array.isArray(result) && result.length === 0);

async function columnsGranted(table: string, privilege: 'INSERT' | 'UPDATE'): Promise<string[]> {
  const rows = await database.db.query<{ column_name: string }>(
    `select column_name from information_schema.column_privileges
      where table_schema = 'public' and table_name = $1 and grantee = 'authenticated'
        and privilege_type = $2 order by column_name`,
    [table, privilege],
  );
  return rows.map((row) => row.column_name);
}

type CatalogueTable = { relname: string; relrowsecurity: boolean; policies: number };
/** Every table in `public`, with whether RLS is on and how many policies it has. */
const catalogue = (db: Queryable) =>
  db.query<CatalogueTable>(
    `select c.relname, c.relrowsecurity,
            (select count(*)::int from pg_policies p
              where p.schemaname = 'public' and p.tablename = c.relname) as policies
       from pg_class c
      where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
      order by c.relname`,
  );
const unprotected = (tables: CatalogueTable[]) => ({
  withoutRls: tables.filter((table) => !table.relrowsecurity).map((t) => t.relname),
  withoutPolicy: tables.filter((table) => table.policies === 0).map((t) => t.relname),
});

describe('the catalogue', () => {
  let tables: CatalogueTable[];
  beforeAll(async () => {
    tables = await catalogue(database.db);
  });

  it('has no table the matrix does not know', () => {
    const known = [...Object.keys(USER_TABLES), ...Object.keys(PLATFORM_TABLES)].sort();
    expect(tables.map((table) => table.relname)).toEqual(known);
  });

  it('has row-level security and at least one policy on every table', () => {
    expect(unprotected(tables)).toEqual({ withoutRls: [], withoutPolicy: [] });
  });

  it('would catch a new table created without either', async () => {
    const found = await asRole(database.db, 'service_role', async (tx) => {
      await tx.exec('reset role; create table public.forgotten (id int primary key)');
      return unprotected(await catalogue(tx));
    }); // rolled back
    expect(found).toEqual({ withoutRls: ['forgotten'], withoutPolicy: ['forgotten'] });
  });
});

describe("the policies' caller, gatehouse.request_user_id()", () => {
  /** What request_user_id() and auth.uid() answer as a signed-in user after `setup`. */
  const callerIds = (claims: Record<string, unknown>, setup = '') =>
    asRole(database.db, 'authenticated', async (tx) => {
      if (setup) await tx.exec(setup);
      const [row] = await tx.query<{ ours: string | null; supabase: string | null }>(
        'select gatehouse.request_user_id() as ours, auth.uid() as supabase',
      );
      return row!;
    }, claims);

  it.each(
    [
      ['the claims name a sub', { role: 'authenticated', sub: A }, '', A],
      [
        'the legacy claim.sub setting is set',
        { role: 'authenticated', sub: B },
        `select set_config('request.jwt.claim.sub', '${C}', true)`,
        C,
      ],
      ['the claims have no sub', { role: 'authenticated' }, '', null],
      ['the claims are empty', {}, `select set_config('request.jwt.claims', '', true)`, null],
    ] as const,
  )('answers as auth.uid() does when %s', async (_case, claims, setup, expected) => {
    expect(await callerIds(claims, setup)).toEqual({ ours: expected, supabase: expected });
  });

  it('is refused to anon', async () => {
    expect(await asAnon('select gatehouse.request_user_id()')).toBe('42501');
  });

  it('is how every user table policy names the caller, written out, never auth.uid()', async () => {
    // Written out, not called: a call is inlined, so its body is parsed again whenever a
    // statement is planned (migrations/20261209100000_policies_caller_inline.sql).
    const rows = await database.db.query<{ policy: string }>(
      `select tablename || ': ' || policyname as policy
         from pg_policies
        where schemaname = 'public'
          and (concat(qual, ' ', with_check) like '%auth.uid()%'
            or concat(qual, ' ', with_check) like '%request_user_id()%')
        order by 1`,
    );
    expect(rows.map((row) => row.policy)).toEqual([]);
    const naming = await database.db.query<{ n: number }>(
      `select count(*)::int as n from pg_policies
        where schemaname = 'public'
          and concat(qual, ' ', with_check) like '%request.jwt.claims%'`,
    );
    expect(naming[0]!.n).toBeGreaterThanOrEqual(15);
  });
});

describe.each(Object.keys(PLATFORM_TABLES))('platform table %s', (table) => {
  it('is closed to anon', async () => {
    expect(await asAnon(`select * from ${table}`)).toBe('42501');
    expect(await asAnon(`delete from ${table} returning 1`)).toBe('42501');
  });

  it(
    PLATFORM_TABLES[table]!.usersRead
      ? 'is read-only to signed-in users'
      : 'is closed to signed-in users',
    async () => {
      const read = await asUser(A, `select * from ${table} limit 1`);
      if (PLATFORM_TABLES[table]!.usersRead) expect(Array.isArray(read)).toBe(true);
      else expect(read).toBe('42501');
      expect(await asUser(A, `delete from ${table} returning 1`)).toBe('42501');
      expect(await asUser(A, `insert into ${table} default values returning 1`)).toBe('42501');
    },
  );
});

describe.each(Object.keys(USER_TABLES))('user table %s', (table) => {
  const spec = USER_TABLES[table]!;
  let rowOfA: string;
  let rowOfB: string;
  beforeAll(async () => {
    rowOfA = await spec.seed(database.db, A);
    rowOfB = await spec.seed(database.db, B);
  });

  it('is closed to anon', async () => {
    expect(NOTHING(await asAnon(`select * from ${table}`))).toBe(true);
    expect(NOTHING(await asAnon(`delete from ${table} returning id`))).toBe(true);
    expect(NOTHING(await asAnon(`update ${table} set id = id returning id`))).toBe(true);
    expect(await snapshot(table, rowOfB)).toHaveLength(1);
  });

  it("shows user A their own rows and none of B's", async () => {
    const seen = await asUser(A, `select id from ${table}`) as Row[];
    const ids = seen.map((row) => String(row.id));
    expect(ids).toContain(rowOfA);
    expect(ids).not.toContain(rowOfB);
    const owners = spec.owners.map((column) => `${column} = $1`).join(' or ');
    expect(await asUser(A, `select id from ${table} where ${owners}`, [B])).toEqual([]);
  });

  it("does not let user A change B's rows", async () => {
    const before = await snapshot(table, rowOfB);
    const updatable = await columnsGranted(table, 'UPDATE');
    const column = updatable[0] ?? 'id';
    const result = await asUser(
      A,
      `update ${table} set ${column} = ${column} where id = $1 returning id`,
      [rowOfB],
    );
    expect(NOTHING(result)).toBe(true);
    for (const owner of spec.owners) {
      // Taking a row over: pointing its owner at oneself.
      const takeover = await asUser(
        A,
        `update ${table} set ${owner} = $2 where id = $1 returning id`,
        [rowOfB, A],
      );
      expect(NOTHING(takeover)).toBe(true);
    }
    expect(await snapshot(table, rowOfB)).toEqual(before);
  });

  it("does not let user A delete B's rows", async () => {
    expect(NOTHING(await asUser(A, `delete from ${table} where id = $1 returning id`, [rowOfB])))
      .toBe(true);
    expect(await snapshot(table, rowOfB)).toHaveLength(1);
  });

  it("does not let user A create rows in anyone else's name", async () => {
    const insertable = await columnsGranted(table, 'INSERT');
    const [template] = await database.db.query(`select * from ${table} where id = $1`, [rowOfB]);
    // A table users only read grants them no column: the attempt names its owner column.
    const columns = insertable.length === 0
      ? spec.owners.slice(0, 1)
      : insertable.filter((column) => column !== 'id' || spec.owners.includes('id'));
    const values = columns.map((column) =>
      spec.owners.includes(column) ? C : (template as Row)[column]
    );
    expect(columns.some((column) => spec.owners.includes(column))).toBe(true);
    const placeholders = columns.map((_, i) => `$${i + 1}`).join(', ');
    const state = await asUser(
      A,
      `insert into ${table} (${columns.join(', ')}) values (${placeholders}) returning id`,
      values,
    );
    expect(state).toBe('42501');
    const owners = spec.owners.map((column) => `${column} = $1`).join(' or ');
    expect(await database.db.query(`select id from ${table} where ${owners}`, [C])).toEqual([]);
  });

  it('lets the service role reach every row', async () => {
    const ids = await asRole(
      database.db,
      'service_role',
      async (tx) => (await tx.query(`select id from ${table}`)).map((row) => String(row.id)),
    );
    expect(ids).toEqual(expect.arrayContaining([rowOfA, rowOfB]));
    expect(
      await asRole(
        database.db,
        'service_role',
        (tx) => sqlState(() => tx.query(`delete from ${table} where id = $1`, [rowOfB])),
      ),
    ).toBe('ok');
  });
});
