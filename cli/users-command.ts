import { parseArgs } from 'node:util';
import { withAuditContext } from '../functions/_shared/audit/index.ts';
import { type Role, ROLES } from '../functions/_shared/auth/roles.ts';
import type { Queryable } from '../functions/_shared/db/types.ts';
import { typed } from '../functions/_shared/db/types.ts';
import {
  type CommandOptions,
  guardUsage,
  parseLimit,
  printListing,
  UsageError,
  withDatabase,
} from './command-support.ts';

const USAGE = 'usage: gatehouse users list [--role admin|operator|support|user] [--limit n] ' +
  '[--json]\n' +
  '       gatehouse users role <email|user id> <admin|operator|support|user>';

const LIST_OPTIONS = {
  role: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

const EMAIL = /^[^\s@]+@[^\s@]+$/;
const USER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Where sign-in keeps users: Supabase Auth's table, or the local server's copy of it. */
const NO_USERS_TABLE = 'this database has no auth.users table: nobody has signed up yet ' +
  '(the local server creates it at start; on Supabase, Supabase Auth owns it)';

/** A user's role as the console reads it (`roleOf`): a role `app_metadata` names, or user. */
const ROLE_OF = `case when u.raw_app_meta_data ->> 'role' = any($1::text[])
                      then u.raw_app_meta_data ->> 'role' else 'user' end`;

/**
 * `gatehouse users list|role`: who can sign in, with their console role, and granting one.
 * The role is `app_metadata.role` (`auth.users.raw_app_meta_data`, merged; `user` removes
 * it), changed in one transaction with a `user.role` audit row naming `cli:<USER>`. It
 * reaches the console with the user's next access token. Exit code 1 when there is no such
 * user (or the email names several), 2 for a mistake in the command line.
 */
export async function runUsersCommand(
  args: readonly string[],
  options: CommandOptions,
): Promise<number> {
  const print = options.print ?? ((line: string) => console.log(line));
  const [sub, ...rest] = args;
  return await guardUsage(print, async () => {
    if (sub === 'list') {
      const { values } = parseArgs({ args: [...rest], options: LIST_OPTIONS, strict: true });
      return await list(values, options, print);
    }
    if (sub === 'role') {
      const { positionals } = parseArgs({
        args: [...rest],
        options: {},
        strict: true,
        allowPositionals: true,
      });
      if (positionals.length !== 2) throw new UsageError(USAGE);
      const [who, role] = positionals as [string, string];
      return await setRole(who, role, options, print);
    }
    throw new UsageError(USAGE);
  });
}

function parseRole(text: string, what: string): Role {
  if (!(ROLES as readonly string[]).includes(text)) {
    throw new UsageError(`${what} must be one of ${ROLES.join(', ')}; got "${text}"`);
  }
  return text as Role;
}

const hasUsersTable = async (db: Queryable) =>
  (await db.query<{ t: string | null }>(`select to_regclass('auth.users')::text as t`))[0]
    ?.t != null;

async function list(
  values: { role?: string; limit?: string; json?: boolean },
  options: CommandOptions,
  print: (line: string) => void,
): Promise<number> {
  const role = values.role === undefined ? null : parseRole(values.role, '--role');
  const limit = parseLimit(values.limit, 100);
  return await withDatabase(options, print, async (db) => {
    if (!(await hasUsersTable(db))) {
      print(`no users: ${NO_USERS_TABLE}`);
      return 0;
    }
    const rows = await db.query<{ id: string; email: string | null; role: Role; created_at: Date }>(
      `select u.id::text as id, u.email::text as email, ${ROLE_OF} as role, u.created_at
         from auth.users u
        where $2::text is null or ${ROLE_OF} = $2
        order by u.created_at desc, u.id
        limit $3`,
      [typed([...ROLES], 'text[]'), typed(role, 'text'), typed(limit + 1, 'int4')],
    );
    const users = rows.slice(0, limit).map((row) => ({
      id: row.id,
      email: row.email,
      role: row.role,
      created_at: new Date(row.created_at).toISOString(),
    }));
    return printListing(print, users, {
      json: values.json ?? false,
      none: role === null ? 'no users' : `no users with the role ${role}`,
      header: ['email', 'role', 'created', 'id'],
      row: (user) => [user.email ?? '-', user.role, user.created_at, user.id],
      footer: `${users.length} user(s)${rows.length > limit ? `, the newest ${limit}` : ''}`,
    });
  });
}

type RoleChange =
  | { readonly outcome: 'missing' }
  | { readonly outcome: 'ambiguous'; readonly ids: readonly string[] }
  | { readonly outcome: 'unchanged'; readonly name: string }
  | {
    readonly outcome: 'changed';
    readonly id: string;
    readonly name: string;
    readonly before: string | null;
  };

/**
 * Gives the user named by `who` (an email, matched in any case, or the user's id) `roleText`.
 * An email more than one user has (Supabase lets an SSO user share one with a password
 * user) changes nobody: the answer lists their ids, and the command is run again with one.
 */
async function setRole(
  who: string,
  roleText: string,
  options: CommandOptions,
  print: (line: string) => void,
): Promise<number> {
  const byId = USER_ID.test(who);
  if (!byId && !EMAIL.test(who)) {
    throw new UsageError(`"${who}" is neither an email address nor a user id\n${USAGE}`);
  }
  const role = parseRole(roleText, 'the role');
  const actor = options.actor ?? `cli:${options.env.USER ?? 'unknown'}`;
  const named = byId ? `the id ${who}` : `the email ${who}`;
  return await withDatabase(options, print, async (db) => {
    if (!(await hasUsersTable(db))) {
      print(`no user with ${named}: ${NO_USERS_TABLE}`);
      return 1;
    }
    const change = await db.transaction(async (tx): Promise<RoleChange> => {
      await withAuditContext(tx, { actor });
      const users = await tx.query<{ id: string; email: string | null; role: string | null }>(
        `select id::text as id, email::text as email, raw_app_meta_data ->> 'role' as role
           from auth.users
          where ${byId ? 'id = $1::uuid' : 'lower(email) = lower($1)'}
          order by created_at, id
          for update`,
        [typed(who, 'text')],
      );
      if (users.length === 0) return { outcome: 'missing' };
      if (users.length > 1) return { outcome: 'ambiguous', ids: users.map((user) => user.id) };
      const { id, email, role: before } = users[0]!;
      // Named as the operator named them; a user found by id by their email, if any.
      const name = byId ? (email ?? 'the user') : who;
      const after = role === 'user' ? null : role;
      if (before === after) return { outcome: 'unchanged', name };
      await tx.query(
        `update auth.users
            set raw_app_meta_data = case when $2::text is null
                  then coalesce(raw_app_meta_data, '{}'::jsonb) - 'role'
                  else coalesce(raw_app_meta_data, '{}'::jsonb) || jsonb_build_object('role', $2::text)
                end,
                updated_at = now()
          where id = $1::uuid`,
        [typed(id, 'text'), typed(after, 'text')],
      );
      await tx.query(
        `insert into public.audit_logs (actor, action, entity_type, entity_id, before, after)
         values (gatehouse.audit_actor(), 'user.role', 'user', $1,
                 jsonb_build_object('role', $2::text), jsonb_build_object('role', $3::text))`,
        [typed(id, 'text'), typed(before, 'text'), typed(after, 'text')],
      );
      return { outcome: 'changed', id, name, before };
    });
    if (change.outcome === 'missing') {
      print(`no user with ${named}`);
      return 1;
    }
    if (change.outcome === 'ambiguous') {
      print(
        `${change.ids.length} users have the email ${who}; nothing changed. ` +
          'Name one by its id instead (gatehouse users role <id> <role>):',
      );
      for (const id of change.ids) print(`  ${id}`);
      return 1;
    }
    if (change.outcome === 'unchanged') {
      print(`${change.name} already has the role ${role}; nothing changed`);
      return 0;
    }
    print(
      `${change.name} (${change.id}) now has the role ${role} (was ${change.before ?? 'user'}); ` +
        `audited as ${actor}`,
    );
    print(
      'the role travels in the access token: it takes effect with their next one ' +
        "(they sign out and in again, or their session's next refresh)",
    );
    return 0;
  });
}
