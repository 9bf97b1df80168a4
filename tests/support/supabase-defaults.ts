import { BOOTSTRAP_SQL } from '../../cli/bootstrap.ts';

/**
 * What a Supabase project grants before any migration runs: everything on new tables,
 * sequences and functions in `public` to its three API roles. Tests start from the same
 * place, so a migration that forgets to revoke is caught here rather than in production.
 * `.ci/run` applies it too before the pgTAP files run:
 * `deno eval "import { SUPABASE_DEFAULT_PRIVILEGES } from './tests/support/supabase-defaults.ts'; console.log(SUPABASE_DEFAULT_PRIVILEGES)"`.
 */
export const SUPABASE_DEFAULT_PRIVILEGES = `
  ${BOOTSTRAP_SQL}
  alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
  alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
  alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
`;
