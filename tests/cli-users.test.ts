/**
 * `gatehouse users list` and `gatehouse users role` against a real database with the local
 * server's `auth.users`: users who signed up through the local sign-in, a role granted by
 * the command (merged into `app_metadata`, audited naming `cli:$USER`), and what the user
 * sees: the admin API refuses their old token and admits the next one. Exit codes: 1 for
 * an unknown email or id (or an email several users have), 2 for a wrong command line.
 *
 * As in cli-queue.test.ts, each command opens its own connection from DATABASE_URL; on the
 * embedded engine commands run one at a time and the test's own pool is idle meanwhile.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTH_PREFIX, createLocalAuthApp, loadLocalAuthKeys } from '../cli/local-auth/index.ts';
import { LOCAL_AUTH_SCHEMA } from '../cli/local-auth/schema.ts';
import { runUsersCommand } from '../cli/users-command.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createAdminApp } from '../functions/admin/index.ts';
import { type JwksServer, startJwksServer } from './support/jwks-server.ts';
import { capturedLogger } from './support/logs.ts';
import { clientEnv } from './support/database.ts';
import { createMigratedDatabase, useMigratedDatabase } from './support/migrated.ts';

const projectRoot = join(import.meta.dirname, '..');
const database = useMigratedDatabase({
  setup: LOCAL_AUTH_SCHEMA,
  reset: 'delete from auth.users; delete from rate_limits;',
});

/** Runs the command as an operator would: its exit code and printed lines. */
async function run(args: string[], url = database.url, kind = database.kind) {
  const lines: string[] = [];
  const pool = clientEnv(kind);
  const code = await runUsersCommand(args, {
    env: { DATABASE_URL: url, USER: 'ops-tester', ...pool },
    projectRoot,
    print: (line) => lines.push(...line.split('\n')),
  });
  return { code, lines, text: lines.join('\n') };
}

/**
 * The local sign-in on the test database, its keys published where the admin function
 * looks for them, and the admin function trusting them.
 */
let jwks: JwksServer;
let dataDir: string;
let auth: ReturnType<typeof createLocalAuthApp>;
let adminApp: ReturnType<typeof createAdminApp>;
let anonKey: string;
beforeAll(async () => {
  jwks = await startJwksServer([]);
  dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-users-'));
  const issuer = `${jwks.url}${AUTH_PREFIX}`;
  const keys = await loadLocalAuthKeys(dataDir, issuer);
  jwks.keys = [{
    kid: keys.publicJwk.kid,
    alg: 'ES256',
    privateKey: keys.privateKey,
    publicJwk: keys.publicJwk,
  }];
  anonKey = keys.anonKey;
  auth = createLocalAuthApp({ db: database.db, keys, issuer });
  adminApp = createAdminApp({
    config: parseConfig({ SUPABASE_URL: jwks.url, GATEHOUSE_SERVICE_KEY: 'x'.repeat(40) }),
    db: database.db,
    logger: capturedLogger().logger,
    clock: systemClock,
  });
});
afterAll(async () => {
  await jwks?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

type Session = { access_token: string; refresh_token: string; user: { id: string } };

async function authCall(path: string, body: unknown): Promise<Session> {
  const res = await auth.request(`${AUTH_PREFIX}${path}`, {
    method: 'POST',
    headers: { apikey: anonKey, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return await res.json() as Session;
}
const signUp = (email: string) => authCall('/signup', { email, password: 'correct horse' });
const refresh = (session: Session) =>
  authCall('/token?grant_type=refresh_token', { refresh_token: session.refresh_token });

/** What the operator console gets for `token` on a route that needs `ops:read`. */
async function consoleStatus(token: string): Promise<number> {
  const res = await adminApp.request('/admin/webhooks/endpoints', {
    headers: { authorization: `Bearer ${token}` },
  });
  return res.status;
}

const appMetadata = async (id: string) =>
  (await database.db.query<{ meta: Record<string, unknown> }>(
    'select raw_app_meta_data as meta from auth.users where id = $1',
    [id],
  ))[0]!.meta;

const roleAudit = (id: string) =>
  database.db.query<{ actor: string; entity_type: string; before: unknown; after: unknown }>(
    `select actor, entity_type, before, after from audit_logs
      where action = 'user.role' and entity_id = $1 order by id`,
    [id],
  );

describe('gatehouse users role', () => {
  it('grants a role in app_metadata, audited; the next access token carries it', async () => {
    const session = await signUp('ada@example.com');
    const id = session.user.id;
    expect(await consoleStatus(session.access_token)).toBe(403);

    const granted = await run(['role', 'ADA@example.com', 'operator']);
    expect(granted).toMatchObject({
      code: 0,
      lines: [
        `ADA@example.com (${id}) now has the role operator (was user); audited as cli:ops-tester`,
        'the role travels in the access token: it takes effect with their next one ' +
        "(they sign out and in again, or their session's next refresh)",
      ],
    });
    // Merged: what app_metadata held stays.
    expect(await appMetadata(id)).toEqual({
      provider: 'email',
      providers: ['email'],
      role: 'operator',
    });
    expect(await roleAudit(id)).toEqual([
      {
        actor: 'cli:ops-tester',
        entity_type: 'user',
        before: { role: null },
        after: { role: 'operator' },
      },
    ]);

    // The token they hold still says what it said; the next one has the role.
    expect(await consoleStatus(session.access_token)).toBe(403);
    const next = await refresh(session);
    expect(await consoleStatus(next.access_token)).toBe(200);

    // `user` removes the role, and the console shuts again.
    const removed = await run(['role', 'ada@example.com', 'user']);
    expect(removed.code).toBe(0);
    expect(removed.lines[0]).toBe(
      `ada@example.com (${id}) now has the role user (was operator); audited as cli:ops-tester`,
    );
    expect(await appMetadata(id)).toEqual({ provider: 'email', providers: ['email'] });
    expect(await consoleStatus((await refresh(next)).access_token)).toBe(403);

    // Asking for what is already there changes nothing and audits nothing.
    expect(await run(['role', 'ada@example.com', 'user'])).toMatchObject({
      code: 0,
      lines: ['ada@example.com already has the role user; nothing changed'],
    });
    expect((await roleAudit(id)).map((row) => [row.before, row.after])).toEqual([
      [{ role: null }, { role: 'operator' }],
      [{ role: 'operator' }, { role: null }],
    ]);
  });

  it('answers 1 for an unknown email and 2 for a wrong command line, changing nothing', async () => {
    const { user } = await signUp('grace@example.com');
    expect(await run(['role', 'nobody@example.com', 'admin'])).toMatchObject({
      code: 1,
      lines: ['no user with the email nobody@example.com'],
    });
    const cases: [string[], string][] = [
      [
        ['role', 'grace@example.com', 'root'],
        'the role must be one of admin, operator, support, user; got "root"',
      ],
      [['role', 'grace@example.com', 'Admin'], 'the role must be one of'],
      [['role', 'grace@example.com'], 'usage: gatehouse users list'],
      [['role', 'grace@example.com', 'admin', 'extra'], 'usage: gatehouse users list'],
      [['role', 'grace', 'admin'], '"grace" is neither an email address nor a user id'],
      [['role', 'not-a-uuid-at-all', 'admin'], 'is neither an email address nor a user id'],
      [['role', 'grace@example.com', 'admin', '--force'], "Unknown option '--force'"],
      [['list', '--role', 'boss'], '--role must be one of admin, operator, support, user'],
      [['list', '--limit', '0'], '--limit must be a whole number'],
      [['grant'], 'usage: gatehouse users list'],
      [[], 'usage: gatehouse users list'],
    ];
    for (const [args, message] of cases) {
      const { code, text } = await run(args);
      expect({ args, code }).toEqual({ args, code: 2 });
      expect(text).toContain(message);
    }
    expect(await appMetadata(user.id)).toEqual({ provider: 'email', providers: ['email'] });
    expect(await roleAudit(user.id)).toEqual([]);
  });

  it('names a user by id too, and changes nobody when an email names several', async () => {
    const { user } = await signUp('linus@example.com');
    // By id: the answer names them by their email.
    expect(await run(['role', user.id.toUpperCase(), 'support'])).toMatchObject({
      code: 0,
      lines: [
        `linus@example.com (${user.id}) now has the role support (was user); audited as cli:ops-tester`,
        expect.stringContaining('takes effect with their next one'),
      ],
    });
    expect(await appMetadata(user.id)).toMatchObject({ role: 'support' });
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect(await run(['role', unknown, 'admin'])).toMatchObject({
      code: 1,
      lines: [`no user with the id ${unknown}`],
    });

    // Supabase's own index lets an SSO user share a password user's email; the local
    // table's unique index stands in the way, so it is set aside for the duration.
    await database.db.exec('drop index auth.users_email_key');
    try {
      const [twin] = await database.db.query<{ id: string }>(
        `insert into auth.users (email, created_at)
         values ('Linus@Example.com', now() + interval '1 second') returning id::text as id`,
      );
      const ambiguous = await run(['role', 'linus@example.com', 'admin']);
      expect(ambiguous).toEqual({
        code: 1,
        lines: [
          '2 users have the email linus@example.com; nothing changed. ' +
          'Name one by its id instead (gatehouse users role <id> <role>):',
          `  ${user.id}`,
          `  ${twin!.id}`,
        ],
        text: expect.any(String),
      });
      expect(await appMetadata(user.id)).toMatchObject({ role: 'support' });
      expect(await appMetadata(twin!.id)).not.toHaveProperty('role');
      expect((await roleAudit(user.id)).map((row) => row.after)).toEqual([{ role: 'support' }]);

      // Named by id, the one meant gets it.
      const chosen = await run(['role', twin!.id, 'admin']);
      expect(chosen.code).toBe(0);
      expect(chosen.lines[0]).toBe(
        `Linus@Example.com (${
          twin!.id
        }) now has the role admin (was user); audited as cli:ops-tester`,
      );
      expect(await appMetadata(twin!.id)).toMatchObject({ role: 'admin' });
      expect(await appMetadata(user.id)).toMatchObject({ role: 'support' });
      await database.db.query('delete from auth.users where id = $1', [twin!.id]);
    } finally {
      await database.db.exec(
        'create unique index if not exists users_email_key on auth.users (lower(email))',
      );
    }
  });

  it('says so when the database has no auth.users (nobody signed up yet)', async () => {
    const bare = await createMigratedDatabase();
    try {
      const role = await run(['role', 'ada@example.com', 'admin'], bare.url, bare.kind);
      expect(role.code).toBe(1);
      expect(role.lines).toEqual([
        'no user with the email ada@example.com: this database has no auth.users table: ' +
        'nobody has signed up yet (the local server creates it at start; on Supabase, ' +
        'Supabase Auth owns it)',
      ]);
      const list = await run(['list'], bare.url, bare.kind);
      expect(list.code).toBe(0);
      expect(list.lines).toEqual([
        expect.stringMatching(/^no users: this database has no auth\.users/),
      ]);
    } finally {
      await bare.drop();
    }
  });
});

describe('gatehouse users list', () => {
  it('lists users newest first with their console role, filtered by role, as JSON too', async () => {
    expect(await run(['list'])).toMatchObject({ code: 0, lines: ['no users'] });
    const ids: Record<string, string> = {};
    for (const name of ['ada', 'grace', 'linus']) {
      ids[name] = (await signUp(`${name}@example.com`)).user.id;
    }
    // Oldest first, a second apart, so the order is the table's, not the clock's.
    await database.db.query(
      `update auth.users set created_at = '2026-12-01T09:00:00Z'::timestamptz +
              (case email when 'ada@example.com' then 0 when 'grace@example.com' then 1 else 2 end)
              * interval '1 second'`,
    );
    expect((await run(['role', 'ada@example.com', 'admin'])).code).toBe(0);
    expect((await run(['role', 'grace@example.com', 'support'])).code).toBe(0);
    // A role the console does not know is a plain user.
    await database.db.query(
      `update auth.users set raw_app_meta_data = raw_app_meta_data || '{"role": "root"}'
        where email = 'linus@example.com'`,
    );

    const { code, lines } = await run(['list']);
    expect(code).toBe(0);
    expect(lines.map((line) => line.split(/ {2,}/))).toEqual([
      ['email', 'role', 'created', 'id'],
      ['linus@example.com', 'user', '2026-12-01T09:00:02.000Z', ids.linus],
      ['grace@example.com', 'support', '2026-12-01T09:00:01.000Z', ids.grace],
      ['ada@example.com', 'admin', '2026-12-01T09:00:00.000Z', ids.ada],
      ['3 user(s)'],
    ]);
    expect((await run(['list', '--role', 'support'])).lines).toEqual([
      expect.stringMatching(/^email +role +created +id$/),
      expect.stringMatching(/^grace@example\.com +support /),
      '1 user(s)',
    ]);
    expect((await run(['list', '--role', 'operator'])).lines).toEqual([
      'no users with the role operator',
    ]);
    expect((await run(['list', '--limit', '1'])).lines.at(-1)).toBe('1 user(s), the newest 1');
    const json = await run(['list', '--role', 'user', '--json']);
    expect(JSON.parse(json.text)).toEqual([{
      id: ids.linus,
      email: 'linus@example.com',
      role: 'user',
      created_at: '2026-12-01T09:00:02.000Z',
    }]);
  });
});
