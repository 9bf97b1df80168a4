import { createRoute } from '@hono/zod-openapi';
import { ProblemError } from '../_shared/http/index.ts';
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
import { IdParam, pageOf, PageQuery, Vehicle, VehicleCreate, VehicleUpdate } from './schemas.ts';

const VEHICLES: TableSpec = {
  table: 'vehicles',
  columns:
    'id, owner_user_id, plate, make, model, color, seats, status, version, created_at, updated_at',
  updatable: ['plate', 'make', 'model', 'color', 'seats', 'status'],
};

/** `/vehicles`: the caller's vehicles (a driver's). */
export function vehicleRoutes(api: Api, deps: ApiDeps): void {
  api.openapi(
    createRoute({
      method: 'get',
      path: '/vehicles',
      tags: ['vehicles'],
      summary: 'Your vehicles, newest first',
      request: { query: PageQuery },
      responses: { 200: json(pageOf(Vehicle, 'VehiclePage'), 'One page'), ...PROBLEM_RESPONSES },
    }),
    async (c) => {
      const page = await asCaller(c, deps, (tx) => listPage(tx, VEHICLES, c.req.valid('query')));
      return c.json(page as never, 200);
    },
  );

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
      method: 'get',
      path: '/vehicles/{id}',
      tags: ['vehicles'],
      summary: 'One of your vehicles',
      request: { params: IdParam },
      responses: {
        200: { ...json(Vehicle, 'The vehicle'), headers: etag },
        404: problem('No such vehicle of yours'),
        ...PROBLEM_RESPONSES,
      },
    }),
    async (c) => {
      const row = await asCaller(c, deps, (tx) => getRow(tx, VEHICLES, c.req.valid('param').id));
      return c.json(row as never, 200, { ETag: etagOf(row) });
    },
  );

  api.openapi(
    createRoute({
      method: 'patch',
      path: '/vehicles/{id}',
      tags: ['vehicles'],
      summary: 'Change a vehicle (optimistic locking: If-Match or version)',
      request: {
        params: IdParam,
        headers: IF_MATCH,
        body: { content: { 'application/json': { schema: VehicleUpdate } } },
      },
      responses: {
        200: { ...json(Vehicle, 'Changed'), headers: etag },
        404: problem('No such vehicle of yours'),
        409: problem('Changed since read (body version), or the plate is taken'),
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
        (tx) => updateRow(tx, VEHICLES, c.req.valid('param').id, changes, expected),
      );
      return c.json(row as never, 200, { ETag: etagOf(row) });
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
      if (removed.length === 0) throw new ProblemError(404, { detail: 'no such vehicle' });
      return c.body(null, 204);
    },
  );
}
