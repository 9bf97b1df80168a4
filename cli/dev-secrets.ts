import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Env } from '../functions/_shared/config/index.ts';
import { StartupError } from './startup-errors.ts';

/** Secrets the local server generates in development when they are not set. */
export const GENERATED_DEV_SECRETS = {
  GATEHOUSE_SERVICE_KEY: () => `ghsk_dev_${randomToken(32)}`,
  METRICS_TOKEN: () => randomToken(24),
  WHATSAPP_VERIFY_TOKEN: () => randomToken(16),
  WHATSAPP_APP_SECRET: () => randomHex(32),
  // Stripe's format: `whsec_` + random; the SDK signs with the whole string as the key.
  STRIPE_WEBHOOK_SECRET: () => `whsec_${randomToken(32)}`,
  // The USSD callback's secret path segment: POST /functions/v1/webhooks/ussd/<token>.
  USSD_PATH_TOKEN: () => randomToken(24),
  // Encrypts outbound webhook endpoints' signing secrets in the database: 32 random bytes.
  GATEHOUSE_ENCRYPTION_KEY: () => randomToken(32),
} as const satisfies Record<string, () => string>;

export type GeneratedSecretName = keyof typeof GENERATED_DEV_SECRETS;

/**
 * A secret that is one of several ways to configure the same gate is not generated when
 * another way is set: with only `USSD_ALLOWED_IPS` set, a generated token would add a
 * requirement the developer did not ask for.
 */
const NOT_GENERATED_WHEN_SET: Partial<Record<GeneratedSecretName, readonly string[]>> = {
  USSD_PATH_TOKEN: ['USSD_ALLOWED_IPS'],
};

export const DEV_SECRETS_FILE = 'dev-secrets.json';

function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

function randomHex(length: number): string {
  return Array.from(randomBytes(length), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** `length` random bytes, base64url. */
export function randomToken(length: number): string {
  let binary = '';
  for (const byte of randomBytes(length)) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/**
 * Writes `text` to `path` readable by its owner only (0600), creating the folder: written
 * aside then renamed, so a crash never leaves a half-written file.
 */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  await writeFile(temporary, text, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, path);
}

export interface DevSecretsResult {
  /** The environment with every missing development secret filled in. */
  readonly env: Env;
  /** The secrets taken from `.data/` (generated now or on an earlier start), by variable. */
  readonly filled: Readonly<Partial<Record<GeneratedSecretName, string>>>;
}

async function readStored(path: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return {};
    throw error; // not readable at all: the caller names the data folder
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null) return {};
    return Object.fromEntries(
      Object.entries(parsed).filter((entry): entry is [string, string] =>
        typeof entry[1] === 'string'
      ),
    );
  } catch {
    throw new StartupError(
      `${path} is not valid JSON; delete it to generate new development secrets`,
    );
  }
}

/**
 * Fills unset secrets for development: generated once, kept in `<dataDir>/dev-secrets.json`
 * (mode 0600) and reused on every start, so webhooks configured against them keep working.
 * Variables set in the environment are never overridden. Never call this in production.
 *
 * @example
 * const { env, filled } = await ensureDevelopmentSecrets(localEnv, '.data');
 * const config = parseConfig(env);
 */
export async function ensureDevelopmentSecrets(
  env: Env,
  dataDir: string,
): Promise<DevSecretsResult> {
  const path = join(dataDir, DEV_SECRETS_FILE);
  const stored = await readStored(path);
  const filled: Partial<Record<GeneratedSecretName, string>> = {};
  let changed = false;
  for (const [name, generate] of Object.entries(GENERATED_DEV_SECRETS)) {
    if (env[name]?.trim()) continue;
    const alternatives = NOT_GENERATED_WHEN_SET[name as GeneratedSecretName] ?? [];
    if (alternatives.some((alternative) => env[alternative]?.trim())) continue;
    let value = stored[name];
    if (value === undefined) {
      value = generate();
      stored[name] = value;
      changed = true;
    }
    filled[name as GeneratedSecretName] = value;
  }
  if (changed) await writePrivateFile(path, `${JSON.stringify(stored, null, 2)}\n`);
  return { env: { ...env, ...filled }, filled };
}
