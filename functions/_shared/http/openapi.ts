import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { Env } from 'hono';
import { invalidInput } from './problem.ts';
import { PLAIN_TEXT_MESSAGE, plainText } from './text.ts';

/**
 * What the functions documented with OpenAPI (`api`, `admin`) share: the problem shape,
 * response helpers, a router whose validation failures are 400 problems naming each
 * field, and the document served beside the routes. Imported directly, not through
 * `http/index.ts`, so functions without OpenAPI do not load `@hono/zod-openapi`.
 */

/** An RFC 9457 problem, as every error answer carries it. */
export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  instance: z.string(),
  request_id: z.string(),
}).passthrough().openapi('Problem');

/** A JSON response of `schema`, for a route's `responses`. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});

/** A problem+json response, for a route's `responses`. */
export const problem = (description: string) => ({
  content: { 'application/problem+json': { schema: Problem } },
  description,
});

/**
 * A router for zod-openapi routes: a request that does not fit a route's schemas is a 400
 * problem listing every issue (`invalidInput`), never zod's own answer.
 *
 * @example
 * const api = openApiRouter<UserEnv>();
 * api.openapi(createRoute({ ... }), handler);
 */
export function openApiRouter<E extends Env>(): OpenAPIHono<E> {
  return new OpenAPIHono<E>({
    defaultHook: (result) => {
      if (!result.success) throw invalidInput(result.error.issues, result.target);
    },
  });
}

export interface OpenApiDocumentOptions {
  readonly info: { title: string; version: string; description: string };
  /** Where the routes answer, e.g. `/functions/v1/api`. */
  readonly server: string;
  /** Security schemes by name; every operation accepts any one of them. */
  readonly securitySchemes: Readonly<Record<string, Record<string, unknown>>>;
}

/**
 * Serves `router`'s OpenAPI 3.1 document at `GET /openapi.json` (public: it describes the
 * routes, it holds no data). Generated on the first request, once every route is
 * registered, then kept.
 */
export function serveOpenApiDocument<E extends Env>(
  router: OpenAPIHono<E>,
  options: OpenApiDocumentOptions,
): void {
  for (const [name, scheme] of Object.entries(options.securitySchemes)) {
    router.openAPIRegistry.registerComponent('securitySchemes', name, scheme as never);
  }
  let generated: unknown;
  const document = () =>
    generated ??= router.getOpenAPI31Document({
      openapi: '3.1.0',
      info: options.info,
      servers: [{ url: options.server }],
      security: Object.keys(options.securitySchemes).map((name) => ({ [name]: [] })),
    });
  router.get('/openapi.json', (c) => c.json(document(), 200, { 'Cache-Control': 'max-age=60' }));
}

/**
 * A free-text request field: trimmed, 1 to `max` characters, {@link plainText}.
 *
 * @example
 * const ProfileUpdate = z.object({ display_name: freeText(100).nullable() });
 */
export function freeText(max: number) {
  return z.string().trim().min(1).max(max).refine(plainText, PLAIN_TEXT_MESSAGE);
}
