import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload, SignJWT } from 'jose';
import { writePrivateFile } from '../dev-secrets.ts';
import { StartupError } from '../startup-errors.ts';

/** The local sign-in's signing key and anon key, kept in the data folder. */
export const LOCAL_AUTH_FILE = 'local-auth.json';

export interface LocalAuthKeys {
  /** Signs access tokens (ES256, as Supabase's default asymmetric key). */
  readonly privateKey: CryptoKey;
  /** Verifies tokens this key signed. */
  readonly publicKey: CryptoKey;
  /** The public half as published in the JWKS. */
  readonly publicJwk: JWK & { kid: string };
  /** The project's anon key: a token with `role: anon`, what clients send as `apikey`. */
  readonly anonKey: string;
  /** Signs a token with this key. */
  sign(claims: JWTPayload): Promise<string>;
}

interface Stored {
  readonly privateJwk: JWK & { kid: string };
  readonly anonKey: string;
}

/**
 * The key pair and anon key of the local sign-in: generated once, kept in
 * `<dataDir>/local-auth.json` (mode 0600) and reused, so sessions and the anon key survive
 * a restart. `issuer` is `<base>/auth/v1`; the anon key never expires, as a project's does
 * not. A file that cannot be read as a key is a start-up error naming it.
 */
export async function loadLocalAuthKeys(dataDir: string, issuer: string): Promise<LocalAuthKeys> {
  const path = join(dataDir, LOCAL_AUTH_FILE);
  let stored = await readStored(path);
  if (stored === null) {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = crypto.randomUUID();
    const privateJwk = { ...await exportJWK(privateKey), kid, alg: 'ES256', use: 'sig' };
    const key = await importJWK(privateJwk, 'ES256') as CryptoKey;
    const anonKey = await new SignJWT({ iss: issuer, ref: 'local', role: 'anon' })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuedAt()
      .sign(key);
    stored = { privateJwk, anonKey };
    await writePrivateFile(path, `${JSON.stringify(stored, null, 2)}\n`);
  }
  const { privateJwk, anonKey } = stored;
  const privateKey = await importJWK(privateJwk, 'ES256') as CryptoKey;
  const { d: _private, ...publicJwk } = privateJwk;
  return {
    privateKey,
    publicKey: await importJWK(publicJwk, 'ES256') as CryptoKey,
    publicJwk: { ...publicJwk, kid: privateJwk.kid },
    anonKey,
    sign: (claims) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: privateJwk.kid, typ: 'JWT' })
        .sign(privateKey),
  };
}

async function readStored(path: string): Promise<Stored | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Stored;
    if (
      typeof parsed.anonKey !== 'string' || typeof parsed.privateJwk?.kid !== 'string' ||
      parsed.privateJwk.kty !== 'EC' || typeof parsed.privateJwk.d !== 'string'
    ) {
      throw new Error('not a key');
    }
    return parsed;
  } catch {
    throw new StartupError(
      `${path} does not hold the local sign-in key; delete it to make a new one`,
    );
  }
}
