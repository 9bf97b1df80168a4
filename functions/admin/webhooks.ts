import type { Row } from '../_shared/db/types.ts';
import { precondition, ProblemError, staleVersion, versionTag } from '../_shared/http/index.ts';
import {
  createEndpoint,
  deleteEndpoint,
  type EndpointSettings,
  endpointUrlProblem,
  isoTime,
  pauseEndpoint,
  readEndpoint,
  resumeEndpoint,
  rotateSecret,
  sendTestEvent,
  updateEndpoint,
} from '../_shared/outbound/endpoints.ts';
import { pageEndpoints } from '../_shared/outbound/listing.ts';
import { createSecretBox, MissingEncryptionKeyError } from '../_shared/outbound/secrets.ts';
import {
  type Admin,
  type AdminDeps,
  adminRoute,
  audited,
  cursorOf,
  json,
  notFound,
  pageOf,
  problem,
} from './context.ts';
import {
  Endpoint,
  EndpointCreate,
  EndpointCreated,
  EndpointDetail,
  EndpointIdParam,
  EndpointQuery,
  EndpointUpdate,
  ETagHeader,
  IfMatch,
  PauseRequest,
  Resumed,
  Rotated,
  RotateRequest,
  TestSent,
} from './webhook-schemas.ts';
import { webhookLogRoutes } from './webhook-log.ts';

const TAGS = ['webhooks'];
const ENDPOINTS = '/webhooks/endpoints';
const ONE = `${ENDPOINTS}/{id}`;
const NO_ENDPOINT = { 404: problem('No such endpoint') };
const NO_KEY = ' Without `GATEHOUSE_ENCRYPTION_KEY` nothing can be sealed: 503.';

/** An endpoint row as the API answers it (no secret, ever: rows come by ENDPOINT_COLUMNS). */
export const endpointView = (row: Row) => ({
  id: String(row.id),
  url: String(row.url),
  description: String(row.description),
  event_types: row.event_types as string[],
  status: row.status as 'active' | 'paused' | 'disabled',
  status_reason: (row.status_reason as string | null) ?? null,
  rate_limit_per_second: row.rate_limit_per_second === null
    ? null
    : Number(row.rate_limit_per_second),
  max_in_flight: Number(row.max_in_flight),
  failing_since: isoTime(row.failing_since),
  version: Number(row.version),
  created_by: String(row.created_by),
  created_at: isoTime(row.created_at)!,
  updated_at: isoTime(row.updated_at)!,
});

type Hint = { id: string; hint: string; created_at: string; expires_at: string | null };
const hintsOf = (row: Row) =>
  ((row.secrets as Hint[] | null) ?? []).map((secret) => ({
    id: secret.id,
    hint: secret.hint,
    created_at: isoTime(secret.created_at)!,
    expires_at: isoTime(secret.expires_at),
  }));
const detailView = (row: Row) => ({ ...endpointView(row), secrets: hintsOf(row) });

/** Secrets cannot be sealed without a key: 503, saying which variable to set. */
async function sealing<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof MissingEncryptionKeyError)) throw error;
    throw new ProblemError(503, { detail: error.message, expose: true, cause: error });
  }
}

/**
 * `/webhooks`: outbound webhook endpoints (create, change under optimistic locking, pause,
 * resume, rotate the signing secret, send a test event, delete), their health, their
 * delivery log and messages. Changes run in `audited` transactions: the tables' triggers
 * write the audit rows (`webhook_endpoint.insert|update|delete`, `.secret_added|changed`),
 * naming the caller. A signing secret appears in the create and rotate answers only.
 */
export function webhookRoutes(admin: Admin, deps: AdminDeps): void {
  const outbound = deps.config.outbound;
  const box = createSecretBox(outbound.encryptionKeys);

  /** 400 for a URL the delivery guard would refuse. */
  const checkUrl = (url: string | undefined) => {
    if (url === undefined) return;
    const refused = endpointUrlProblem(url, outbound);
    if (refused !== null) {
      throw new ProblemError(400, {
        detail: `url: ${refused}`,
        extensions: { errors: [{ path: 'url', message: refused }] },
      });
    }
  };

  const read = async (id: string) => {
    const row = await readEndpoint(deps.db, id);
    if (!row) throw notFound('endpoint');
    return row;
  };

  admin.openapi(
    adminRoute('ops:read', {
      method: 'get',
      path: ENDPOINTS,
      tags: TAGS,
      summary: 'Outbound webhook endpoints, newest first',
      request: { query: EndpointQuery },
      responses: { 200: json(pageOf(Endpoint, 'WebhookEndpointPage'), 'One page') },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const page = await pageEndpoints(deps.db, { status: query.status }, {
        limit: query.limit,
        after: cursorOf(query.cursor, 'uuid'),
      });
      return c.json({ items: page.items.map(endpointView), next_cursor: page.nextCursor }, 200);
    },
  );

  admin.openapi(
    adminRoute('webhooks:write', {
      method: 'post',
      path: ENDPOINTS,
      tags: TAGS,
      summary: 'Create an endpoint; its signing secret is in this answer only',
      description: 'Audited as `webhook_endpoint.insert` and `webhook_endpoint.secret_added` ' +
        '(the secret by its hint).' + NO_KEY,
      request: {
        body: { content: { 'application/json': { schema: EndpointCreate } }, required: true },
      },
      responses: {
        201: { ...json(EndpointCreated, 'Created, with its secret'), headers: ETagHeader },
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      checkUrl(body.url);
      const settings: EndpointSettings = {
        url: body.url,
        description: body.description,
        eventTypes: body.event_types,
        rateLimitPerSecond: body.rate_limit_per_second ?? null,
        maxInFlight: body.max_in_flight,
      };
      const { row, secret } = await sealing(() =>
        audited(c, deps, async (tx) => {
          const { endpoint, secret } = await createEndpoint(tx, settings, box);
          return { row: (await readEndpoint(tx, String(endpoint.id)))!, secret };
        })
      );
      return c.json({ ...detailView(row), secret } as never, 201, {
        ETag: versionTag(row.version),
        Location: `${ENDPOINTS}/${row.id}`,
      });
    },
  );

  admin.openapi(
    adminRoute('ops:read', {
      method: 'get',
      path: ONE,
      tags: TAGS,
      summary: 'One endpoint, with its signing secrets by hint',
      request: { params: EndpointIdParam },
      responses: {
        200: { ...json(EndpointDetail, 'The endpoint'), headers: ETagHeader },
        ...NO_ENDPOINT,
      },
    }),
    async (c) => {
      const row = await read(c.req.valid('param').id);
      return c.json(detailView(row) as never, 200, { ETag: versionTag(row.version) });
    },
  );

  admin.openapi(
    adminRoute('webhooks:write', {
      method: 'patch',
      path: ONE,
      tags: TAGS,
      summary: "Change an endpoint's settings (optimistic locking: If-Match or version)",
      description: 'Name the version read: `If-Match: "3"` (stale: 412) or `"version": 3` ' +
        '(stale: 409); neither: 428. Audited as `webhook_endpoint.update`, before and after.',
      request: {
        params: EndpointIdParam,
        headers: IfMatch,
        body: { content: { 'application/json': { schema: EndpointUpdate } }, required: true },
      },
      responses: {
        200: { ...json(EndpointDetail, 'The endpoint as it now is'), headers: ETagHeader },
        ...NO_ENDPOINT,
        409: problem('Changed since read (body version)'),
        412: problem('Changed since read (If-Match)'),
        428: problem('Neither If-Match nor version was sent'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const expected = precondition(c.req.valid('header')['if-match'], body.version);
      checkUrl(body.url);
      const changes: { -readonly [K in keyof EndpointSettings]?: EndpointSettings[K] } = {};
      if (body.url !== undefined) changes.url = body.url;
      if (body.description !== undefined) changes.description = body.description;
      if (body.event_types !== undefined) changes.eventTypes = body.event_types;
      if (body.rate_limit_per_second !== undefined) {
        changes.rateLimitPerSecond = body.rate_limit_per_second;
      }
      if (body.max_in_flight !== undefined) changes.maxInFlight = body.max_in_flight;
      const row = await audited(c, deps, async (tx) => {
        const changed = await updateEndpoint(tx, id, changes, expected.version);
        if (changed === 'not_found') throw notFound('endpoint');
        if (changed === 'version_conflict') {
          const [current] = await tx.query(
            'select version from public.webhook_endpoints where id = $1',
            [id],
          );
          if (!current) throw notFound('endpoint');
          throw staleVersion(current.version, expected);
        }
        return (await readEndpoint(tx, id))!;
      });
      return c.json(detailView(row) as never, 200, { ETag: versionTag(row.version) });
    },
  );

  admin.openapi(
    adminRoute('webhooks:write', {
      method: 'delete',
      path: ONE,
      tags: TAGS,
      summary: 'Delete an endpoint with its secrets, messages and delivery log',
      description: 'Audited as `webhook_endpoint.delete` (the row before) and ' +
        '`webhook_endpoint.secret_removed`.',
      request: { params: EndpointIdParam },
      responses: { 204: { description: 'Deleted' }, ...NO_ENDPOINT },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const deleted = await audited(c, deps, (tx) => deleteEndpoint(tx, id));
      if (!deleted) throw notFound('endpoint');
      return c.body(null, 204);
    },
  );

  admin.openapi(
    adminRoute('webhooks:write', {
      method: 'post',
      path: `${ONE}/pause`,
      tags: TAGS,
      summary: 'Pause an endpoint: its messages are held, not sent, until it resumes',
      request: {
        params: EndpointIdParam,
        body: { content: { 'application/json': { schema: PauseRequest } }, required: false },
      },
      responses: { 200: json(Endpoint, 'The endpoint, paused'), ...NO_ENDPOINT },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { reason } = c.req.valid('json') ?? {};
      const row = await audited(c, deps, (tx) => pauseEndpoint(tx, id, reason ?? null));
      if (!row) throw notFound('endpoint');
      return c.json(endpointView(row) as never, 200);
    },
  );

  admin.openapi(
    adminRoute('webhooks:write', {
      method: 'post',
      path: `${ONE}/resume`,
      tags: TAGS,
      summary: 'Resume a paused or disabled endpoint; its held messages go out, oldest first',
      request: { params: EndpointIdParam },
      responses: { 200: json(Resumed, 'Resumed'), ...NO_ENDPOINT },
    }),
    async (c) => {
      const resumed = await audited(c, deps, (tx) => resumeEndpoint(tx, c.req.valid('param').id));
      if (!resumed) throw notFound('endpoint');
      return c.json({ endpoint: endpointView(resumed.row), released: resumed.released }, 200);
    },
  );

  admin.openapi(
    adminRoute('webhooks:write', {
      method: 'post',
      path: `${ONE}/rotate-secret`,
      tags: TAGS,
      summary: 'A new signing secret, shown once; the current ones sign beside it for a while',
      description: 'Deliveries carry one signature per secret until the overlap ends. Audited ' +
        "by the secrets' hints, never the secrets." + NO_KEY,
      request: {
        params: EndpointIdParam,
        body: { content: { 'application/json': { schema: RotateRequest } }, required: false },
      },
      responses: { 200: json(Rotated, 'Rotated'), ...NO_ENDPOINT },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const hours = (c.req.valid('json') ?? {}).overlap_hours;
      const overlapMs = hours === undefined ? outbound.secretOverlapMs : hours * 3_600_000;
      const rotated = await sealing(() =>
        audited(c, deps, async (tx) => {
          const done = await rotateSecret(tx, id, box, overlapMs);
          return done && { ...done, row: (await readEndpoint(tx, id))! };
        })
      );
      if (!rotated) throw notFound('endpoint');
      return c.json({
        secret: rotated.secret,
        previous_secrets_expire_at: rotated.previousExpireAt.toISOString(),
        secrets: hintsOf(rotated.row),
      }, 200);
    },
  );

  admin.openapi(
    adminRoute('webhooks:write', {
      method: 'post',
      path: `${ONE}/test`,
      tags: TAGS,
      summary: 'Send a `webhook.test` event to this endpoint alone',
      description: 'Queued like any event (held while the endpoint is paused or disabled); ' +
        'follow it with `GET /webhooks/messages/{message_id}`.',
      request: { params: EndpointIdParam },
      responses: { 202: json(TestSent, 'Queued'), ...NO_ENDPOINT },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const sent = await audited(c, deps, async (tx) => {
        const event = await sendTestEvent(tx, id);
        if (event === undefined) return undefined;
        const [message] = await tx.query<{ id: string; status: string }>(
          'select id, status from public.outbound_messages where event_id = $1',
          [event],
        );
        return { event_id: event, message_id: Number(message!.id), status: message!.status };
      });
      if (!sent) throw notFound('endpoint');
      return c.json(sent, 202);
    },
  );

  webhookLogRoutes(admin, deps);
}
