import type { SloSummary } from '../_shared/slo/index.ts';
import { createRoute, type OpenAPIHono, type RouteConfig, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { type OperatorEnv, type Permission, requirePermission } from '../_shared/auth/index.ts';
import { type AuditContext, withAuditContext } from '../_shared/audit/index.ts';
import type { Clock } from '../_shared/clock.ts';
import type { Config } from '../_shared/config/index.ts';
import type { MigrationManifestEntry } from '../_shared/db/migrations.ts';
import { isInputRefusal } from '../_shared/db/sqlstate.ts';
import type { Db, Transaction } from '../_shared/db/types.ts';
import { clientAddress, ProblemError } from '../_shared/http/index.ts';
import { problem } from '../_shared/http/openapi.ts';
import { type Keyset, type KeysetId, parseCursor } from '../_shared/paging/index.ts';

export { json, problem } from '../_shared/http/openapi.ts';

/** What the admin API's routes need. */
export interface AdminDeps {
  readonly config: Config;
  readonly db: Db;
  readonly clock: Clock;
  /** Migrations this build expects (the overview's status); the generated manifest. */
  readonly manifest: readonly MigrationManifestEntry[];
  /** The SLOs as the overview shows them; none: the overview has no `slos`. */
  readonly slos?: () => Promise<SloSummary>;
}

export type Admin = OpenAPIHono<OperatorEnv>;

/** The OpenAPI extension naming the permission a route needs (see `PERMISSIONS`). */
export const PERMISSION_EXTENSION = 'x-gatehouse-permission';

/** The error answers every admin route may give. */
const REFUSALS = {
  401: problem('No service key and no valid access token'),
  403: problem("The caller's role lacks the permission this route needs"),
  503: problem('The database or the signing keys are unavailable; retry'),
};

/**
 * A route of the admin API: only callers holding `permission` get past its first
 * middleware (the service key holds every one), and the document says which permission
 * and lists the refusals. `400` is documented for routes that take input.
 *
 * @example
 * admin.openapi(adminRoute('ops:read', { method: 'get', path: '/jobs', ... }), handler);
 */
export function adminRoute<R extends Omit<RouteConfig, 'middleware'>>(
  permission: Permission,
  route: R,
) {
  const input = route.request !== undefined;
  return createRoute({
    ...route,
    [PERMISSION_EXTENSION]: permission,
    description: `${route.description ? `${route.description}\n\n` : ''}Needs \`${permission}\`.`,
    middleware: [requirePermission(permission)] as const,
    responses: {
      ...route.responses,
      ...(input ? { 400: problem('Malformed request: every problem in `errors`') } : {}),
      ...REFUSALS,
    },
  });
}

/** Most items one page holds. */
export const MAX_PAGE_SIZE = 100;

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(50).openapi({
    description: `Items per page, at most ${MAX_PAGE_SIZE}.`,
  }),
  cursor: z.string().max(64).optional().openapi({
    description: "The previous page's `next_cursor`.",
  }),
});

const instant = (description: string) =>
  z.iso.datetime({ offset: true }).optional().openapi({
    description,
    example: '2026-12-07T09:00:00Z',
  });

/** `since` and `until`, ISO 8601 times; `since` must come first. */
export const TimeRange = z.object({
  since: instant('From this time on (inclusive).'),
  until: instant('Before this time (exclusive).'),
});

/** Refuses a range that ends before it starts. */
export const inOrder = (range: { since?: string; until?: string }) =>
  range.since === undefined || range.until === undefined ||
  Date.parse(range.since) < Date.parse(range.until);
export const IN_ORDER = { message: 'since must be before until', path: ['since'] };

/** A page of `item`, named `name` in the document. */
export function pageOf<T extends z.ZodType>(item: T, name: string) {
  return z.object({
    items: z.array(item),
    next_cursor: z.string().nullable().openapi({
      description: 'Pass as `cursor` for the next page; null on the last one.',
    }),
  }).openapi(name);
}

/**
 * The keyset a `cursor` query names, or 400 for one this API never gave out; `id` is the
 * type of the rows' ids (a page of endpoints is keyed by a uuid).
 */
export function cursorOf(cursor: string | undefined, id: KeysetId = 'int8'): Keyset | null {
  if (cursor === undefined) return null;
  const keyset = parseCursor(cursor, id);
  if (keyset === null) {
    throw new ProblemError(400, {
      detail: 'cursor is not one this API gave out',
      extensions: { errors: [{ path: 'cursor', message: 'not a cursor of this API' }] },
    });
  }
  return keyset;
}

/** The 404 for an id or key that names nothing. */
export function notFound(what: string): ProblemError {
  return new ProblemError(404, { detail: `no such ${what}` });
}

/**
 * Who is behind a request, as its audit rows name them: their user id (or `service key`),
 * the request id, the client's address and user agent. For changes that open their own
 * transactions (`replayBatch`); the rest run in `audited`.
 */
export const auditContextOf = (c: Context<OperatorEnv>): AuditContext => ({
  actor: c.get('operator').actor,
  requestId: c.get('requestId'),
  ip: clientAddress(c.req.raw.headers) ?? null,
  userAgent: c.req.header('user-agent') ?? null,
});

/**
 * Runs a change in one transaction whose audit rows name the caller (`auditContextOf`).
 * Values the database refuses (a check, a malformed value) answer 400.
 */
export async function audited<T>(
  c: Context<OperatorEnv>,
  deps: AdminDeps,
  fn: (tx: Transaction) => Promise<T>,
): Promise<T> {
  try {
    return await deps.db.transaction(async (tx) => {
      await withAuditContext(tx, auditContextOf(c));
      return await fn(tx);
    });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === '23514' || code === '23502' || isInputRefusal(error)) {
      throw new ProblemError(400, { detail: 'the values cannot be stored', cause: error });
    }
    throw error;
  }
}

/** A `Date` (or null) as ISO 8601 text, for a JSON answer. */
export const iso = (date: Date | null) => (date === null ? null : date.toISOString());
