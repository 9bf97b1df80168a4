import { createRoute, type z } from '@hono/zod-openapi';
import {
  answeringRefusals,
  type Api,
  type ApiDeps,
  asCaller,
  etag,
  IF_MATCH,
  json,
  problem,
  PROBLEM_RESPONSES,
  readAsCaller,
} from './context.ts';
import { etagOf, getRow, type ListedTable, listPage, precondition, updateRow } from './rows.ts';
import { IdParam, pageOf, PageQuery } from './schemas.ts';

export interface ResourceOptions {
  /** The collection's path, e.g. `/vehicles`. */
  readonly path: string;
  readonly spec: ListedTable;
  /** One row as the API returns it, and its name in the document. */
  readonly item: z.ZodType;
  /** What a `PATCH` may change, `version` included; absent: rows are never changed. */
  readonly update?: z.ZodObject;
  /** The list's summary, e.g. `Your vehicles, newest first`. */
  readonly listSummary: string;
}

/**
 * The routes every user-owned collection has: `GET <path>` (a page, newest first),
 * `GET <path>/{id}` (one row with its `ETag`) and, for rows users change, `PATCH <path>/{id}`
 * under optimistic locking (If-Match → 412, body version → 409, neither → 428). Rows the caller cannot see
 * are 404, by the table's policies.
 */
export function resourceRoutes(api: Api, deps: ApiDeps, options: ResourceOptions): void {
  const { path, spec, item } = options;
  const noun = spec.noun;
  const tag = path.slice(1);
  const words = noun.split(' ').map((word) => `${word[0]!.toUpperCase()}${word.slice(1)}`);
  const Page = pageOf(item, `${words.join('')}Page`);

  api.openapi(
    createRoute({
      method: 'get',
      path,
      tags: [tag],
      summary: options.listSummary,
      request: { query: PageQuery },
      responses: { 200: json(Page, 'One page'), ...PROBLEM_RESPONSES },
    }),
    async (c) => {
      const page = await answeringRefusals(
        listPage(deps.db, c.get('user'), spec, c.req.valid('query')),
      );
      return c.json(page as never, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: `${path}/{id}`,
      tags: [tag],
      summary: `One ${noun} of yours`,
      request: { params: IdParam },
      responses: {
        200: { ...json(item, `The ${noun}`), headers: etag },
        404: problem(`No such ${noun} of yours`),
        ...PROBLEM_RESPONSES,
      },
    }),
    async (c) => {
      const row = await readAsCaller(c, deps, (q) => getRow(q, spec, c.req.valid('param').id));
      return c.json(row as never, 200, { ETag: etagOf(row) });
    },
  );

  if (options.update === undefined) return;
  api.openapi(
    createRoute({
      method: 'patch',
      path: `${path}/{id}`,
      tags: [tag],
      summary: `Change a ${noun} (optimistic locking: If-Match or version)`,
      request: {
        params: IdParam,
        headers: IF_MATCH,
        body: { content: { 'application/json': { schema: options.update } } },
      },
      responses: {
        200: { ...json(item, 'Changed'), headers: etag },
        404: problem(`No such ${noun} of yours`),
        409: problem('Changed since read (body version), or a duplicate'),
        412: problem('Changed since read (If-Match)'),
        428: problem('Neither If-Match nor version was sent'),
        ...PROBLEM_RESPONSES,
      },
    }),
    async (c) => {
      const changes = c.req.valid('json') as Record<string, unknown> & { version?: number };
      const expected = precondition(c.req.valid('header')['if-match'], changes.version);
      const row = await asCaller(
        c,
        deps,
        (tx) => updateRow(tx, spec, c.req.valid('param').id, changes, expected),
      );
      return c.json(row as never, 200, { ETag: etagOf(row) });
    },
  );
}
