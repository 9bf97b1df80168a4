import { acceptsMountPrefix, mountedAt } from '../functions/_shared/http/index.ts';
import { AUTH_PREFIX } from './local-auth/index.ts';
import { type WebConfig, withWebHeaders } from './web-headers.ts';

/** The URL prefix Supabase serves functions under; the local server uses the same shape. */
export const FUNCTIONS_PREFIX = '/functions/v1';

export interface FetchApp {
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
}

export interface LocalRouterOptions {
  /** Function apps by deployed name, each with `basePath('/<name>')`. */
  readonly functions: Readonly<Record<string, FetchApp>>;
  /** Answers everything outside the functions prefix (the web build). */
  readonly web: FetchApp;
  /** Answers a request for a function that does not exist. */
  readonly notFound: FetchApp;
  /** Serves `/auth/v1/...` (the local sign-in, development only); absent: the web build does. */
  readonly auth?: FetchApp;
  /**
   * The web apps' settings, answered at `/config.json`; null when the server does not know
   * them (no local sign-in and no `SUPABASE_URL` + `SUPABASE_ANON_KEY`).
   */
  readonly webConfig?: WebConfig | null;
  /** Origins besides this server's that the web pages may call (the Supabase project). */
  readonly webConnect?: readonly string[];
}

function configAnswer(config: WebConfig | null | undefined): Response {
  const headers = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };
  if (config) return Response.json(config, { headers });
  return Response.json({
    type: 'about:blank',
    title: 'Not Found',
    status: 404,
    detail: 'The web apps are not configured: set SUPABASE_URL and SUPABASE_ANON_KEY',
  }, { status: 404, headers: { ...headers, 'Content-Type': 'application/problem+json' } });
}

/** The web build's answer, with the document headers (web-headers.ts) added. */
async function webAnswer(
  options: LocalRouterOptions,
  request: Request,
  pathname: string,
): Promise<Response> {
  // Dot-files in the build (Vite's manifest, the build's stamp) are not the site's.
  if (pathname.split('/').some((part) => part.startsWith('.'))) {
    return withWebHeaders(await options.notFound.fetch(request), pathname, []);
  }
  return withWebHeaders(await options.web.fetch(request), pathname, options.webConnect ?? []);
}

/**
 * Routes `/functions/v1/<name>/...` to the function `<name>`, which sees the path with the
 * prefix removed, exactly as on Supabase's edge runtime: `/<name>/...`. Function apps built
 * by `createFunctionApp` get the request as it came with the prefix named in `env` (no
 * copy of the request: its body keeps the runtime's fast path); any other app gets a copy
 * of the request at the shortened URL. `/auth/v1/...` goes to the local sign-in when there
 * is one; everything else to the web build.
 *
 * @example
 * const handler = createLocalRouter({ functions: { health }, web, notFound });
 * await serveWithDeno({ hostname: '127.0.0.1', port: 54321 }, handler);
 */
export function createLocalRouter(options: LocalRouterOptions) {
  const prefix = `${FUNCTIONS_PREFIX}/`;
  const mounted = mountedAt(FUNCTIONS_PREFIX);
  return function routeLocalRequest(request: Request): Response | Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== FUNCTIONS_PREFIX && !url.pathname.startsWith(prefix)) {
      if (options.auth && url.pathname.startsWith(`${AUTH_PREFIX}/`)) {
        return options.auth.fetch(request);
      }
      if (url.pathname === '/config.json') return configAnswer(options.webConfig);
      return webAnswer(options, request, url.pathname);
    }
    const rest = url.pathname.slice(FUNCTIONS_PREFIX.length);
    const name = rest.split('/')[1] ?? '';
    const app = Object.hasOwn(options.functions, name) ? options.functions[name] : undefined;
    if (!app) return options.notFound.fetch(request);
    if (acceptsMountPrefix(app)) return app.fetch(request, mounted);
    url.pathname = rest;
    return app.fetch(new Request(url, request));
  };
}
