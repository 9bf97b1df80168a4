import { endpointHealth, readEndpoint } from '../_shared/outbound/endpoints.ts';
import { pageDeliveries, readMessage } from '../_shared/outbound/listing.ts';
import {
  type Admin,
  type AdminDeps,
  adminRoute,
  cursorOf,
  json,
  notFound,
  pageOf,
  problem,
} from './context.ts';
import {
  Delivery,
  DeliveryQuery,
  EndpointIdParam,
  Health,
  HealthQuery,
  Message,
  MessageIdParam,
} from './webhook-schemas.ts';

const TAGS = ['webhooks'];
const ONE = '/webhooks/endpoints/{id}';
const NO_ENDPOINT = { 404: problem('No such endpoint') };

/**
 * What outbound webhooks did, read-only: an endpoint's health, its delivery log
 * (`webhook_deliveries`, every attempt with its status code, latency, error and response
 * excerpt) and one message with its attempts.
 */
export function webhookLogRoutes(admin: Admin, deps: AdminDeps): void {
  admin.openapi(
    adminRoute('ops:read', {
      method: 'get',
      path: `${ONE}/health`,
      tags: TAGS,
      summary: "An endpoint's health: backlog, breaker, success rate and latency of attempts",
      request: { params: EndpointIdParam, query: HealthQuery },
      responses: { 200: json(Health, 'Its health'), ...NO_ENDPOINT },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const health = await endpointHealth(deps.db, id, c.req.valid('query').window_hours);
      if (!health) throw notFound('endpoint');
      return c.json(health as never, 200);
    },
  );

  admin.openapi(
    adminRoute('ops:read', {
      method: 'get',
      path: `${ONE}/deliveries`,
      tags: TAGS,
      summary: "The endpoint's delivery log: every attempt, newest first",
      request: { params: EndpointIdParam, query: DeliveryQuery },
      responses: { 200: json(pageOf(Delivery, 'WebhookDeliveryPage'), 'One page'), ...NO_ENDPOINT },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const query = c.req.valid('query');
      const page = await pageDeliveries(deps.db, id, {
        outcome: query.outcome,
        from: query.since,
        to: query.until,
      }, { limit: query.limit, after: cursorOf(query.cursor) });
      if (
        page.items.length === 0 && query.cursor === undefined &&
        !await readEndpoint(deps.db, id)
      ) throw notFound('endpoint');
      return c.json({ items: page.items, next_cursor: page.nextCursor } as never, 200);
    },
  );

  admin.openapi(
    adminRoute('ops:read', {
      method: 'get',
      path: '/webhooks/messages/{id}',
      tags: TAGS,
      summary: 'One message (an event for one endpoint): its status, payload and attempts',
      request: { params: MessageIdParam },
      responses: { 200: json(Message, 'The message'), 404: problem('No such message') },
    }),
    async (c) => {
      const message = await readMessage(deps.db, c.req.valid('param').id);
      if (!message) throw notFound('message');
      return c.json(message as never, 200);
    },
  );
}
