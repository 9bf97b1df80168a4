import { createClient, type Session, type SupabaseClient } from '@supabase/supabase-js';
import { type Role, roleOf as roleOfClaims } from '../../functions/_shared/auth/roles.ts';
import type { WebConfig } from './config.ts';

export interface Auth {
  readonly client: SupabaseClient;
  /** The current access token, refreshed by supabase-js when it is near expiry. */
  token(): Promise<string | null>;
  session(): Promise<Session | null>;
  signIn(email: string, password: string): Promise<Session>;
  signOut(): Promise<void>;
  /** Called on every sign-in, sign-out and refresh. */
  onChange(listener: (session: Session | null) => void): void;
}

/**
 * Supabase Auth through `@supabase/supabase-js`: the local server's sign-in in development,
 * the project's Auth in production. Each app keeps its session under its own key.
 */
export function createAuth(config: WebConfig, storageKey: string): Auth {
  const client = createClient(config.supabaseUrl, config.anonKey, {
    auth: { persistSession: true, autoRefreshToken: true, storageKey, detectSessionInUrl: false },
  });
  return {
    client,
    async token() {
      const { data } = await client.auth.getSession();
      return data.session?.access_token ?? null;
    },
    async session() {
      const { data } = await client.auth.getSession();
      return data.session;
    },
    async signIn(email, password) {
      const { data, error } = await client.auth.signInWithPassword({ email, password });
      if (error || !data.session) throw new Error(error?.message ?? 'sign-in failed');
      return data.session;
    },
    async signOut() {
      await client.auth.signOut({ scope: 'local' });
    },
    onChange(listener) {
      client.auth.onAuthStateChange((_event, session) => listener(session));
    },
  };
}

/**
 * The role the token carries in `app_metadata.role`, read by the same rule the server uses
 * (`roleOf` in functions/_shared/auth/roles.ts); here only to choose what to show: every
 * action is still refused by the API without it.
 */
export function roleOf(session: Session | null): Role {
  return roleOfClaims({ app_metadata: session?.user?.app_metadata });
}
