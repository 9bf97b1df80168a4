import { createRoute } from '@hono/zod-openapi';
import { type Api, type ApiDeps, asCaller, etag, json, PROBLEM_RESPONSES } from './context.ts';
import { resourceRoutes } from './resource.ts';
import { etagOf, type ListedTable } from './rows.ts';
import { Ride, RideCreate, RideUpdate } from './schemas.ts';

export const RIDES: ListedTable = {
  table: 'rides',
  noun: 'ride',
  columns: `id, passenger_user_id, driver_user_id, vehicle_id, pickup, dropoff, status,
            fare_cents::float8 as fare_cents, currency, version, created_at, updated_at`,
  updatable: ['pickup', 'dropoff', 'status'],
  pageFunction: 'gatehouse.rides_page',
};

/**
 * `/rides`: the rides the caller requested as a passenger or drives. Which rows those are
 * is the `rides` policies' business; which columns a user may write, the table's grants
 * (a passenger cannot assign a driver or set a fare: the app does).
 */
export function rideRoutes(api: Api, deps: ApiDeps): void {
  resourceRoutes(api, deps, {
    path: '/rides',
    spec: RIDES,
    item: Ride,
    update: RideUpdate,
    listSummary: 'Your rides, as passenger or driver, newest first',
  });

  api.openapi(
    createRoute({
      method: 'post',
      path: '/rides',
      tags: ['rides'],
      summary: 'Request a ride (Idempotency-Key required)',
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
}
