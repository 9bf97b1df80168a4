import { join } from 'node:path';
import type { Config } from '../functions/_shared/config/index.ts';
import type { Queryable } from '../functions/_shared/db/types.ts';
import { webhookEndpoints } from '../functions/_shared/webhooks/providers.ts';
import type { GeneratedSecretName } from './dev-secrets.ts';
import { FUNCTIONS } from './functions.ts';
import { AUTH_PREFIX, LOCAL_AUTH_FILE } from './local-auth/index.ts';
import { FUNCTIONS_PREFIX } from './local-router.ts';
import type { Sandbox } from './sandbox/index.ts';

export interface BannerDetails {
  readonly config: Config;
  readonly base: string;
  readonly database: string;
  readonly filled: Partial<Record<GeneratedSecretName, string>>;
  /** The local sign-in's anon key; null when a Supabase project signs users in. */
  readonly anonKey: string | null;
  /** The development sandbox the server sends to, if any. */
  readonly sandbox?: Sandbox | null;
  /** Intake switches an operator has turned off (`feature_flags`), e.g. `intake.stripe`. */
  readonly switchedOff?: ReadonlySet<string>;
}

/** The switches of `config`'s webhook endpoints that are off in `feature_flags` now. */
export async function switchedOffFlags(db: Queryable, config: Config): Promise<Set<string>> {
  const keys = webhookEndpoints(config).flatMap((endpoint) => endpoint.flag ?? []);
  const rows = await db.query<{ key: string }>(
    'select key from public.feature_flags where key = any($1::text[]) and not enabled',
    [keys],
  );
  return new Set(rows.map((row) => row.key));
}

/**
 * What `npm start` prints once it serves: where each function answers, the URL to give
 * each provider (and what a provider still lacks, or that its intake is switched off), the
 * database, the development secrets it generated and the local sign-in's keys.
 */
export function printBanner(print: (line: string) => void, details: BannerDetails): void {
  const { config, base, filled } = details;
  const functions = `${base}${FUNCTIONS_PREFIX}`;
  print(`Gatehouse (${config.env}) listening on ${base}`);
  print(`  Functions  ${functions}/<name>`);
  for (const name of Object.keys(FUNCTIONS)) {
    if (name !== 'webhooks') print(`    ${name.padEnd(9)} ${functions}/${name}`);
  }
  print('  Webhooks   the URLs to give each provider:');
  const endpoints = webhookEndpoints(config);
  const width = Math.max(...endpoints.map((endpoint) => endpoint.provider.length));
  for (const endpoint of endpoints) {
    const url = `${functions}/webhooks${endpoint.path}`;
    const note = endpoint.missing
      ? `  (refuses every delivery until ${endpoint.missing} is set)`
      : endpoint.flag && details.switchedOff?.has(endpoint.flag)
      ? `  (switched off: answers 503 until feature flag ${endpoint.flag} is on)`
      : endpoint.note
      ? `  (${endpoint.note})`
      : '';
    print(`    ${endpoint.provider.padEnd(width)}  ${url}${note}`);
  }
  if (details.anonKey !== null) {
    print(
      `  Auth       ${base}${AUTH_PREFIX}  (local sign-in for development; SUPABASE_ANON_KEY below)`,
    );
  }
  print(`  Web        ${base}/`);
  print(`  Database   ${details.database}`);
  const sandbox = details.sandbox;
  if (sandbox) {
    const what = [
      sandbox.whatsapp ? 'WhatsApp messages' : '',
      sandbox.paypal ? 'PayPal certificates' : '',
    ]
      .filter(Boolean).join(' and ');
    print(`  Sandbox    ${sandbox.origin}  (${what}, for development; npm run demo serves it)`);
  }
  const generated = Object.entries(filled);
  if (generated.length > 0) {
    print('');
    print(
      `Development secrets (generated once, kept in ${join(config.dataDir, 'dev-secrets.json')};` +
        ' set them in .env to choose your own):',
    );
    for (const [name, value] of generated) print(`  ${name}=${value}`);
  }
  if (details.anonKey !== null) {
    print('');
    print(`Local sign-in (keys kept in ${join(config.dataDir, LOCAL_AUTH_FILE)}):`);
    print(`  SUPABASE_URL=${base}`);
    print(`  SUPABASE_ANON_KEY=${details.anonKey}`);
  }
  print('');
  print('Try it:');
  print(`  curl ${base}${FUNCTIONS_PREFIX}/health`);
  print(`  curl ${base}${FUNCTIONS_PREFIX}/health/ready`);
  print('');
}
