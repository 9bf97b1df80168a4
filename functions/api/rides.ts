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
import { etagOf, getRow, listPage, precondition, type TableSpec, updateRow } from './rows.ts';
import { IdParam, pageOf, PageQuery, Ride, RideCreate, RideUpdate } from './schemas.ts';

const RIDES: TableSpec = {
  table: 'rides',
  columns: `id, passenger_user_id, driver_user_id, vehicle_id, pickup, dropoff, status,
            fare_cents::float8 as fare_cents, currency, version, created_at, updated_at`,
  updatable: ['pickup', 'dropoff', 'status'],
};

/**
 * `/rides`: the rides the caller requested as a passenger or drives. Which rows those are
 * is the `rides` policies' business; which columns a user may write, the table's grants
 * (a passenger cannot assign a driver or set a fare: the app does).
 */
export function rideRoutes(api: Api, deps: ApiDeps): void {
  api.openapi(
    createRoute({
      method: 'get',
      path: '/rides',
      tags: ['rides'],
      summary: 'Your rides, as passenger or driver, newest first',
      request: { query: PageQuery },
      responses: { 200: json(pageOf(Ride, 'RidePage'), 'One page'), ...PROBLEM_RESPONSES },
    }),
    async (c) => {
      const page = await asCaller(c, deps, (tx) => listPage(tx, RIDES, c.req.valid('query')));
      return c.json(page as never, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/rides',
      tags: ['rides'],
      summary: 'Request a ride',
      request: { body: { content: { 'application/json': { schema: RideCreate } } } },
      responses: { 201: { ...json(Ride, 'Requested'), headers: etag }, ...PROBLEM_RESPONSES },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const row = await asCaller(c, deps, async (tx) => {
        const [created] = await tx.query(
          `insert into public.rides (pickup, dropoff) values ($1, $2) returning ${RIDES.columns}`,
          [input.pickup, input.dropoff],
        );
        return created!;
      });
      return c.json(row as never, 201, { ETag: etagOf(row), Location: `rides/${row.id}` });
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/rides/{id}',
      tags: ['rides'],
      summary: 'One of your rides',
      request: { params: IdParam },
      responses: {
        200: { ...json(Ride, 'The ride'), headers: etag },
        404: problem('No such ride of yours'),
        ...PROBLEM_RESPONSES,
      },
    }),
    async (c) => {
      const row = await asCaller(c, deps, (tx) => getRow(tx, RIDES, c.req.valid('param').id));
      return c.json(row as never, 200, { ETag: etagOf(row) });
    },
  );

  api.openapi(
    createRoute({
      method: 'patch',
      path: '/rides/{id}',
      tags: ['rides'],
      summary: 'Change a ride (optimistic locking: If-Match or version)',
      request: {
        params: IdParam,
        headers: IF_MATCH,
        body: { content: { 'application/json': { schema: RideUpdate } } },
      },
      responses: {
        200: { ...json(Ride, 'Changed'), headers: etag },
        404: problem('No such ride of yours'),
        409: problem('Changed since read (body version)'),
        412: problem('Changed since read (If-Match)'),
        428: problem('Neither If-Match nor version was sent'),
        ...PROBLEM_RESPONSES,
      },
    }),
    async (c) => {
      const changes = c.req.valid('json');
      const expected = precondition(c.req.valid('header')['if-match'], changes.version);
      const row = await asCaller(
        c,
        deps,
        (tx) => updateRow(tx, RIDES, c.req.valid('param').id, changes, expected),
      );
      return c.json(row as never, 200, { ETag: etagOf(row) });
    },
  );
}
