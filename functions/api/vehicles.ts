import { createRoute } from '@hono/zod-openapi';
import {
  type Api,
  type ApiDeps,
  asCaller,
  etag,
  json,
  problem,
  PROBLEM_RESPONSES,
} from './context.ts';
import { resourceRoutes } from './resource.ts';
import { etagOf, type ListedTable, notFound } from './rows.ts';
import { IdParam, Vehicle, VehicleCreate, VehicleUpdate } from './schemas.ts';

/** The vehicles table as the API reads and changes it. */
export const VEHICLES: ListedTable = {
  table: 'vehicles',
  noun: 'vehicle',
  columns:
    'id, owner_user_id, plate, make, model, color, seats, status, version, created_at, updated_at',
  updatable: ['plate', 'make', 'model', 'color', 'seats', 'status'],
  pageFunction: 'gatehouse.vehicles_page',
};

/** `/vehicles`: the caller's vehicles (a driver's). */
export function vehicleRoutes(api: Api, deps: ApiDeps): void {
  resourceRoutes(api, deps, {
    path: '/vehicles',
    spec: VEHICLES,
    item: Vehicle,
    update: VehicleUpdate,
    listSummary: 'Your vehicles, newest first',
  });

  api.openapi(
    createRoute({
      method: 'post',
      path: '/vehicles',
      tags: ['vehicles'],
      summary: 'Register a vehicle',
      request: { body: { content: { 'application/json': { schema: VehicleCreate } } } },
      responses: {
        201: { ...json(Vehicle, 'Registered'), headers: etag },
        409: problem('You have a vehicle with this plate already'),
        ...PROBLEM_RESPONSES,
      },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const row = await asCaller(c, deps, async (tx) => {
        const [created] = await tx.query(
          `insert into public.vehicles (plate, make, model, color, seats)
           values ($1, $2, $3, $4, $5) returning ${VEHICLES.columns}`,
          [
            input.plate,
            input.make ?? null,
            input.model ?? null,
            input.color ?? null,
            input.seats ?? null,
          ],
        );
        return created!;
      });
      return c.json(row as never, 201, { ETag: etagOf(row), Location: `vehicles/${row.id}` });
    },
  );

  api.openapi(
    createRoute({
      method: 'delete',
      path: '/vehicles/{id}',
      tags: ['vehicles'],
      summary: 'Remove a vehicle',
      request: { params: IdParam },
      responses: {
        204: { description: 'Removed' },
        404: problem('No such vehicle of yours'),
        ...PROBLEM_RESPONSES,
      },
    }),
    async (c) => {
      const removed = await asCaller(
        c,
        deps,
        (tx) =>
          tx.query('delete from public.vehicles where id = $1 returning id', [
            c.req.valid('param').id,
          ]),
      );
      if (removed.length === 0) throw notFound(VEHICLES);
      return c.body(null, 204);
    },
  );
}
