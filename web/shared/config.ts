/**
 * Where the apps find Supabase: `/config.json` beside the pages. The local server answers
 * it from its own settings; a static host serves the file written at deploy time
 * (docs/console.md).
 */
export interface WebConfig {
  /** The project's URL: Auth at `/auth/v1`, functions at `/functions/v1`. */
  readonly supabaseUrl: string;
  /** The project's anon (publishable) key: public by design, what clients send as `apikey`. */
  readonly anonKey: string;
  /** `<supabaseUrl>/functions/v1` unless the file says otherwise. */
  readonly functionsUrl: string;
}

export class ConfigError extends Error {}

export async function loadConfig(): Promise<WebConfig> {
  let body: Record<string, unknown>;
  try {
    const response = await fetch('/config.json', { cache: 'no-store' });
    if (!response.ok) throw new ConfigError(`/config.json answered ${response.status}`);
    body = await response.json() as Record<string, unknown>;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`/config.json could not be read: ${(error as Error).message}`);
  }
  const supabaseUrl = body.supabase_url;
  const anonKey = body.supabase_anon_key;
  if (typeof supabaseUrl !== 'string' || typeof anonKey !== 'string' || !anonKey) {
    throw new ConfigError('/config.json needs supabase_url and supabase_anon_key');
  }
  const base = supabaseUrl.replace(/\/+$/, '');
  const functionsUrl = typeof body.functions_url === 'string'
    ? body.functions_url.replace(/\/+$/, '')
    : `${base}/functions/v1`;
  return { supabaseUrl: base, anonKey, functionsUrl };
}
