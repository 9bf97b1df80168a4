import { z } from '@hono/zod-openapi';
import {
  EVENT_STATUSES,
  type EventSummary as Summary,
  type EventTrace,
  pageEvents,
  traceEventById,
} from '../_shared/jobs/trace.ts';
import {
  type Admin,
  type AdminDeps,
  adminRoute,
  cursorOf,
  IN_ORDER,
  inOrder,
  iso,
  json,
  notFound,
  pageOf,
  PageQuery,
  problem,
  TimeRange,
} from './context.ts';
import { EventDetail, EventSummary, filterText } from './schemas.ts';

const EventQuery = PageQuery.extend(TimeRange.shape).extend({
  provider: filterText(64, 'e.g. `stripe`, `whatsapp`, `standard:github`'),
  status: z.enum(EVENT_STATUSES).optional(),
  key: filterText(512, "The provider's key for the event (a `wamid`, Stripe's event id), exactly"),
}).refine(inOrder, IN_ORDER);

const EventId = z.object({
  id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).openapi({
    param: { name: 'id', in: 'path' },
    example: 42,
  }),
});

export const eventView = (event: Summary) => ({
  id: event.id,
  provider: event.provider,
  key: event.key,
  type: event.type,
  status: event.status,
  sender: event.sender,
  request_id: event.requestId,
  received_at: event.receivedAt.toISOString(),
  job_status: event.jobStatus,
  attempts: event.attempts,
});

const detailView = (event: EventTrace) => ({
  ...eventView(event),
  payload: event.payload,
  jobs: event.jobs.map((job) => ({
    id: job.id,
    kind: job.kind,
    status: job.status,
    attempts: job.attempts,
    max_attempts: job.maxAttempts,
    last_error: job.lastError,
    errors: job.errors,
    created_at: job.createdAt.toISOString(),
    at: iso(job.at),
  })),
});

/** `/events`: the webhook events providers sent, what became of them, and their payloads. */
export function eventRoutes(admin: Admin, deps: AdminDeps): void {
  admin.openapi(
    adminRoute('ops:read', {
      method: 'get',
      path: '/events',
      tags: ['events'],
      summary: "Inbound events, newest first, with their job's state",
      request: { query: EventQuery },
      responses: { 200: json(pageOf(EventSummary, 'EventPage'), 'One page') },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const page = await pageEvents(deps.db, {
        provider: query.provider,
        status: query.status,
        key: query.key,
        from: query.since,
        to: query.until,
      }, { limit: query.limit, after: cursorOf(query.cursor) });
      return c.json({ items: page.items.map(eventView), next_cursor: page.nextCursor }, 200);
    },
  );

  admin.openapi(
    adminRoute('ops:read', {
      method: 'get',
      path: '/events/{id}',
      tags: ['events'],
      summary: "One event: its payload, its job(s) and every attempt's error",
      request: { params: EventId },
      responses: { 200: json(EventDetail, 'The event'), 404: problem('No such event') },
    }),
    async (c) => {
      const event = await traceEventById(deps.db, c.req.valid('param').id);
      if (!event) throw notFound('event');
      return c.json(detailView(event) as never, 200);
    },
  );
}
