import { type AuditEntry as Entry, pageAuditLogs } from '../_shared/audit/index.ts';
import {
  type Admin,
  type AdminDeps,
  adminRoute,
  cursorOf,
  IN_ORDER,
  inOrder,
  json,
  pageOf,
  PageQuery,
  TimeRange,
} from './context.ts';
import { AuditEntry, filterText } from './schemas.ts';

/** One audit row as the API returns it (`/audit`, a flag's history). */
export const auditView = (entry: Entry) => ({
  id: entry.id,
  created_at: entry.createdAt.toISOString(),
  actor: entry.actor,
  action: entry.action,
  entity_type: entry.entityType,
  entity_id: entry.entityId,
  before: entry.before,
  after: entry.after,
  context: entry.context,
  request_id: entry.requestId,
  ip: entry.ip,
  user_agent: entry.userAgent,
});

export const AuditPage = pageOf(AuditEntry, 'AuditPage');

const AuditQuery = PageQuery.extend(TimeRange.shape).extend({
  actor: filterText(200, "A user's id, `service key`, `cli:<user>`, a database role"),
  action: filterText(100, 'e.g. `feature_flag.update`, `job.replay`'),
  entity_type: filterText(100, 'e.g. `feature_flag`, `job`'),
  entity_id: filterText(200, 'e.g. a flag key or a job id'),
}).refine(inOrder, IN_ORDER);

/** `/audit`: who did what to which entity, before and after, from where. */
export function auditRoutes(admin: Admin, deps: AdminDeps): void {
  admin.openapi(
    adminRoute('audit:read', {
      method: 'get',
      path: '/audit',
      tags: ['audit'],
      summary: 'The audit log, newest first',
      request: { query: AuditQuery },
      responses: { 200: json(AuditPage, 'One page') },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const page = await pageAuditLogs(deps.db, {
        actor: query.actor,
        action: query.action,
        entityType: query.entity_type,
        entityId: query.entity_id,
        from: query.since,
        to: query.until,
      }, { limit: query.limit, after: cursorOf(query.cursor) });
      return c.json(
        { items: page.items.map(auditView), next_cursor: page.nextCursor } as never,
        200,
      );
    },
  );
}
