/**
 * What the local server adds to the web build's files (the console at `/`, the PWA at
 * `/app/`): the security headers for HTML documents, a Content-Security-Policy that lets
 * the pages load only their own scripts and styles and talk only to this server and the
 * Supabase project, and caching that suits Vite's output (hashed `/assets/` files for a
 * year, everything else revalidated).
 */

/** The web apps' runtime settings, answered at `/config.json`. */
export interface WebConfig {
  readonly supabase_url: string;
  readonly supabase_anon_key: string;
}

/** The policy for the web build's pages; `connect` adds origins the pages may call. */
export function contentSecurityPolicy(connect: readonly string[] = []): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    `connect-src 'self'${connect.map((origin) => ` ${origin}`).join('')}`,
    "manifest-src 'self'",
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

const DOCUMENT_HEADERS: readonly (readonly [string, string])[] = [
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
  ['Referrer-Policy', 'strict-origin-when-cross-origin'],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Permissions-Policy', 'camera=(), microphone=(), payment=(), usb=(), geolocation=(self)'],
  ['Strict-Transport-Security', 'max-age=15552000; includeSubDomains'],
];

/** A copy of a web-build response with the headers above. */
export function withWebHeaders(
  response: Response,
  pathname: string,
  connect: readonly string[],
): Response {
  const headers = new Headers(response.headers);
  for (const [name, value] of DOCUMENT_HEADERS) headers.set(name, value);
  headers.set('Content-Security-Policy', contentSecurityPolicy(connect));
  if (response.ok) {
    headers.set(
      'Cache-Control',
      pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    );
  }
  // The service worker may control the PWA's whole folder from where it is served.
  if (pathname === '/app/sw.js') headers.set('Service-Worker-Allowed', '/app/');
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}

/** The origin of `url` when it differs from `self`'s, for `connect-src`. */
export function otherOrigins(self: string, urls: readonly (string | null)[]): string[] {
  const own = new URL(self).origin;
  const origins = new Set<string>();
  for (const url of urls) {
    if (!url) continue;
    const origin = new URL(url).origin;
    if (origin !== own) origins.add(origin);
  }
  return [...origins];
}
