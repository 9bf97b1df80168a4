import { z } from '@hono/zod-openapi';
import { pageAuditLogs } from '../_shared/audit/index.ts';
import type { Queryable, Row } from '../_shared/db/types.ts';
import { FLAG_KEY } from '../_shared/flags/index.ts';
import {
  type Admin,
  type AdminDeps,
  adminRoute,
  audited,
  cursorOf,
  json,
  notFound,
  PageQuery,
  problem,
} from './context.ts';
import { AuditPage, auditView } from './audit.ts';
import { Flag, FlagUpdate } from './schemas.ts';

const COLUMNS = `key, enabled, rollout_percent, groups, environments, min_app_version,
  description, updated_at, updated_by`;

/** What a change may set, by the request's field (the same name as the column). */
const UPDATABLE = [
  'enabled',
  'rollout_percent',
  'groups',
  'environments',
  'min_app_version',
  'description',
] as const;
const CASTS: Record<(typeof UPDATABLE)[number], string> = {
  enabled: 'boolean',
  rollout_percent: 'int4',
  groups: 'text[]',
  environments: 'text[]',
  min_app_version: 'text',
  description: 'text',
};

const KeyParam = z.object({
  key: z.string().max(200).regex(FLAG_KEY, 'a flag key such as intake.stripe').openapi({
    param: { name: 'key', in: 'path' },
    example: 'intake.stripe',
  }),
});

const flagView = (row: Row) => ({
  ...row,
  updated_at: new Date(row.updated_at as string).toISOString(),
});

async function readFlag(db: Queryable, key: string): Promise<Row | undefined> {
  const [row] = await db.query(`select ${COLUMNS} from public.feature_flags where key = $1`, [
    key,
  ]);
  return row;
}

/**
 * `/flags`: every flag as `feature_flags` holds it, changes to one (the kill switch, the
 * rollout, targeting) and its history. A change is audit-logged by the table's trigger, in
 * the same transaction, naming the caller (see `audited`).
 */
export function flagRoutes(admin: Admin, deps: AdminDeps): void {
  admin.openapi(
    adminRoute('ops:read', {
      method: 'get',
      path: '/flags',
      tags: ['flags'],
      summary: 'Every feature flag, by key',
      responses: { 200: json(z.object({ items: z.array(Flag) }).openapi('Flags'), 'The flags') },
    }),
    async (c) => {
      const rows = await deps.db.query(`select ${COLUMNS} from public.feature_flags order by key`);
      return c.json({ items: rows.map(flagView) } as never, 200);
    },
  );

  admin.openapi(
    adminRoute('ops:read', {
      method: 'get',
      path: '/flags/{key}',
      tags: ['flags'],
      summary: 'One feature flag',
      request: { params: KeyParam },
      responses: { 200: json(Flag, 'The flag'), 404: problem('No such flag') },
    }),
    async (c) => {
      const row = await readFlag(deps.db, c.req.valid('param').key);
      if (!row) throw notFound('flag');
      return c.json(flagView(row) as never, 200);
    },
  );

  admin.openapi(
    adminRoute('flags:write', {
      method: 'patch',
      path: '/flags/{key}',
      tags: ['flags'],
      summary: 'Change a flag: toggle it, set its rollout or its targeting',
      description: 'Every instance sees the change within 2 seconds. The `feature_flag.update` ' +
        'audit row names the caller, the request id, ip and user agent.',
      request: {
        params: KeyParam,
        body: { content: { 'application/json': { schema: FlagUpdate } }, required: true },
      },
      responses: { 200: json(Flag, 'The flag as it now is'), 404: problem('No such flag') },
    }),
    async (c) => {
      const { key } = c.req.valid('param');
      const changes = c.req.valid('json');
      const fields = UPDATABLE.filter((field) => changes[field] !== undefined);
      const set = fields.map((field, i) => `${field} = $${i + 2}::${CASTS[field]}`).join(', ');
      const row = await audited(c, deps, async (tx) => {
        const [updated] = await tx.query(
          `update public.feature_flags set ${set} where key = $1 returning ${COLUMNS}`,
          [key, ...fields.map((field) => changes[field])],
        );
        return updated;
      });
      if (!row) throw notFound('flag');
      return c.json(flagView(row) as never, 200);
    },
  );

  admin.openapi(
    adminRoute('audit:read', {
      method: 'get',
      path: '/flags/{key}/history',
      tags: ['flags'],
      summary: "A flag's changes, newest first: who, when, from where, before and after",
      request: { params: KeyParam, query: PageQuery },
      responses: {
        200: json(AuditPage, 'One page'),
        404: problem('No such flag, now or ever'),
      },
    }),
    async (c) => {
      const { key } = c.req.valid('param');
      const query = c.req.valid('query');
      const page = await pageAuditLogs(
        deps.db,
        { entityType: 'feature_flag', entityId: key },
        { limit: query.limit, after: cursorOf(query.cursor) },
      );
      if (page.items.length === 0 && query.cursor === undefined && !await readFlag(deps.db, key)) {
        throw notFound('flag');
      }
      return c.json(
        { items: page.items.map(auditView), next_cursor: page.nextCursor } as never,
        200,
      );
    },
  );
}
