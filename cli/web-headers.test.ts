import { describe, expect, it } from 'vitest';
import { contentSecurityPolicy, otherOrigins, withWebHeaders } from './web-headers.ts';

describe('the web build headers', () => {
  it("let pages call this server and the Supabase project's origin, nothing else", () => {
    const connect = otherOrigins('http://127.0.0.1:54321', [
      'https://abc.supabase.co/',
      'http://127.0.0.1:54321',
      null,
    ]);
    expect(connect).toEqual(['https://abc.supabase.co']);
    const csp = contentSecurityPolicy(connect);
    expect(csp).toContain("connect-src 'self' https://abc.supabase.co;");
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).not.toMatch(/unsafe-(inline|eval)/);
  });

  it('cache hashed assets for a year, revalidate the rest, leave errors uncached', () => {
    const ok = (path: string) =>
      withWebHeaders(new Response('x'), path, []).headers.get('cache-control');
    expect(ok('/assets/console-abc123.js')).toBe('public, max-age=31536000, immutable');
    expect(ok('/')).toBe('no-cache');
    expect(ok('/app/manifest.webmanifest')).toBe('no-cache');
    const missing = withWebHeaders(new Response('gone', { status: 404 }), '/assets/x.js', []);
    expect(missing.headers.get('cache-control')).toBeNull();
    expect(missing.headers.get('content-security-policy')).toContain("default-src 'self'");
  });

  it('let the service worker control the whole PWA', () => {
    const sw = withWebHeaders(new Response(''), '/app/sw.js', []);
    expect(sw.headers.get('service-worker-allowed')).toBe('/app/');
  });
});
