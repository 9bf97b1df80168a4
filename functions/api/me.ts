import { createRoute } from '@hono/zod-openapi';
import {
  type Api,
  type ApiDeps,
  asCaller,
  etag,
  IF_MATCH,
  json,
  problem,
  PROBLEM_RESPONSES,
} from './context.ts';
import { etagOf, precondition, type TableSpec, updateRow } from './rows.ts';
import { AppVersionHeader, Flags, Me, Profile, ProfileUpdate } from './schemas.ts';
import type { AuthUser } from '../_shared/auth/index.ts';
import type { FlagContext } from '../_shared/flags/index.ts';

/** Groups a token may put a user in beyond their role (`app_metadata.groups`), at most. */
const MAX_TOKEN_GROUPS = 32;

/**
 * Whom flags are evaluated for: the user's id (the rollout's subject), their role and the
 * groups `app_metadata` names (set by the service role; users cannot edit it), and the app
 * version the client sent.
 */
function flagContext(user: AuthUser, appVersion: string | undefined): FlagContext {
  const meta = user.claims.app_metadata as { groups?: unknown } | undefined;
  const named = Array.isArray(meta?.groups) ? meta.groups : [];
  const groups = named.filter((group): group is string => typeof group === 'string')
    .slice(0, MAX_TOKEN_GROUPS);
  return { subject: user.id, groups: [user.role, ...groups], appVersion: appVersion ?? null };
}

const PROFILES: TableSpec = {
  table: 'profiles',
  noun: 'profile',
  columns: 'id, display_name, wa_phone, locale, version, created_at, updated_at',
  updatable: ['display_name', 'wa_phone', 'locale'],
};

/** `/me`, `/me/profile` and `/flags`: the caller, as the token and the database know them. */
export function meRoutes(api: Api, deps: ApiDeps): void {
  api.openapi(
    createRoute({
      method: 'get',
      path: '/me',
      tags: ['me'],
      summary: 'Who you are: your id, email, role and profile',
      responses: { 200: json(Me, 'You'), ...PROBLEM_RESPONSES },
    }),
    async (c) => {
      const user = c.get('user');
      const [profile] = await asCaller(
        c,
        deps,
        (tx) =>
          tx.query(`select ${PROFILES.columns} from public.profiles where id = $1`, [user.id]),
      );
      return c.json(
        { id: user.id, email: user.email, role: user.role, profile: profile ?? null } as never,
        200,
      );
    },
  );

  api.openapi(
    createRoute({
      method: 'patch',
      path: '/me/profile',
      tags: ['me'],
      summary: 'Create or change your profile (a change needs If-Match or version)',
      request: {
        headers: IF_MATCH,
        body: { content: { 'application/json': { schema: ProfileUpdate } } },
      },
      responses: {
        200: { ...json(Profile, 'Your profile'), headers: etag },
        409: problem('Changed since read (body version)'),
        412: problem('Changed since read (If-Match)'),
        428: problem('The profile exists, and neither If-Match nor version was sent'),
        ...PROBLEM_RESPONSES,
      },
    }),
    async (c) => {
      const changes = c.req.valid('json');
      const ifMatch = c.req.valid('header')['if-match'];
      const user = c.get('user');
      const row = await asCaller(c, deps, async (tx) => {
        // The first write creates the profile; from then on changes are locked.
        const [created] = await tx.query(
          `insert into public.profiles (id, display_name, wa_phone, locale)
           values ($1, $2, $3, $4)
           on conflict (id) do nothing
           returning ${PROFILES.columns}`,
          [user.id, changes.display_name ?? null, changes.wa_phone ?? null, changes.locale ?? null],
        );
        if (created) return created;
        return await updateRow(
          tx,
          PROFILES,
          user.id,
          changes,
          precondition(ifMatch, changes.version),
        );
      });
      return c.json(row as never, 200, { ETag: etagOf(row) });
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/flags',
      tags: ['me'],
      summary: 'Feature flags as they apply to you',
      description: 'Each flag evaluated for the caller: its kill switch, environments, groups ' +
        '(your role and `app_metadata.groups`), a rollout sticky to your id, and a minimum app ' +
        'version checked against `X-App-Version`.',
      request: { headers: AppVersionHeader },
      responses: { 200: json(Flags, 'Each flag, on or off'), ...PROBLEM_RESPONSES },
    }),
    async (c) => {
      const context = flagContext(c.get('user'), c.req.valid('header')['x-app-version']);
      return c.json({ flags: await deps.flags.all(context) }, 200);
    },
  );
}
