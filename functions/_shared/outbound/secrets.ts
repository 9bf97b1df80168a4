/**
 * Outbound endpoints' signing secrets: made here (Standard Webhooks' `whsec_<base64>`),
 * stored encrypted (AES-256-GCM under `GATEHOUSE_ENCRYPTION_KEY`), decrypted only to sign.
 * The stored text names the key that sealed it, so keys rotate: the first configured key
 * seals, any configured key opens.
 */

const PREFIX = 'whsec_';
const SEALED_VERSION = 'v1';

/** No key configured (production without `GATEHOUSE_ENCRYPTION_KEY`): nothing can be sealed. */
export class MissingEncryptionKeyError extends Error {
  override readonly name = 'MissingEncryptionKeyError';
  constructor() {
    super('GATEHOUSE_ENCRYPTION_KEY is not set: endpoint secrets cannot be stored or read');
  }
}

/** Sealed by a key that is not configured, or altered: it cannot be opened. */
export class SecretUnreadableError extends Error {
  override readonly name = 'SecretUnreadableError';
}

function fromBase64(text: string): Uint8Array {
  const normal = text.replaceAll('-', '+').replaceAll('_', '/');
  const binary = atob(normal + '='.repeat((4 - (normal.length % 4)) % 4));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** A new signing secret: `whsec_` and 32 random bytes in base64. */
export function newSigningSecret(): string {
  return `${PREFIX}${toBase64(crypto.getRandomValues(new Uint8Array(32)))}`;
}

/** What people see of a secret: its last four characters. */
export function secretHint(secret: string): string {
  return secret.slice(-4);
}

interface Key {
  readonly id: string;
  readonly key: CryptoKey;
}

/** Seals and opens secrets with the configured keys (the first seals). */
export interface SecretBox {
  seal(secret: string): Promise<string>;
  open(sealed: string): Promise<string>;
}

/**
 * @example
 * const box = createSecretBox(config.outbound.encryptionKeys);
 * const stored = await box.seal(newSigningSecret());
 */
export function createSecretBox(keys: readonly string[]): SecretBox {
  let loaded: Promise<Key[]> | null = null;
  const load = () =>
    loaded ??= Promise.all(keys.map(async (text) => {
      const raw = fromBase64(text);
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', raw as BufferSource));
      const id = Array.from(digest.slice(0, 4), (b) => b.toString(16).padStart(2, '0')).join('');
      const key = await crypto.subtle.importKey('raw', raw as BufferSource, 'AES-GCM', false, [
        'encrypt',
        'decrypt',
      ]);
      return { id, key };
    }));
  return {
    async seal(secret) {
      const [first] = await load();
      if (!first) throw new MissingEncryptionKeyError();
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const sealed = new Uint8Array(
        await crypto.subtle.encrypt(
          { name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(first.id) },
          first.key,
          new TextEncoder().encode(secret),
        ),
      );
      return `${SEALED_VERSION}.${first.id}.${toBase64(iv)}.${toBase64(sealed)}`;
    },
    async open(sealed) {
      const all = await load();
      if (all.length === 0) throw new MissingEncryptionKeyError();
      const [version, id, iv, body] = sealed.split('.');
      const key = all.find((candidate) => candidate.id === id);
      if (version !== SEALED_VERSION || !key || !iv || !body) {
        throw new SecretUnreadableError(
          `a secret was sealed by key ${id ?? '?'}, which is not among GATEHOUSE_ENCRYPTION_KEY`,
        );
      }
      try {
        const plain = await crypto.subtle.decrypt(
          {
            name: 'AES-GCM',
            iv: fromBase64(iv) as BufferSource,
            additionalData: new TextEncoder().encode(id),
          },
          key.key,
          fromBase64(body) as BufferSource,
        );
        return new TextDecoder().decode(plain);
      } catch {
        throw new SecretUnreadableError(`a secret sealed by key ${id} does not open (altered?)`);
      }
    },
  };
}
