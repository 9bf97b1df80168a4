/**
 * Imported certificate keys by URL. PayPal names each certificate by its own URL
 * (`.../v1/notifications/certs/CERT-...`), so one fetch serves every delivery signed with
 * it until the entry expires. Each instance keeps its own cache (nothing is shared between
 * edge instances), so entries only ever save work; they never decide trust on their own.
 */

/** A certificate's public key and validity, ready to verify with. */
export interface CertificateKey {
  publicKey: CryptoKey;
  notBeforeMs: number;
  notAfterMs: number;
}

export interface CertificateKeyCacheOptions {
  /** Fetches, parses and imports the certificate at `url`. Failures are not cached. */
  load(url: string): Promise<CertificateKey>;
  /** Epoch milliseconds. */
  now(): number;
  /** How long an entry lives, at most; never beyond its certificate's notAfter. */
  ttlMs: number;
  /** Beyond this many URLs the least recently used entry goes. */
  maxEntries: number;
}

export interface CertificateKeyCache {
  get(url: string): Promise<CertificateKey>;
}

interface Entry {
  value: CertificateKey;
  expiresAtMs: number;
}

/**
 * A bounded, expiring cache in front of `load`; concurrent `get`s of one URL share a load.
 *
 * @example
 * ```ts
 * const cache = createCertificateKeyCache({ load, now: Date.now, ttlMs: 3_600_000, maxEntries: 32 });
 * const { publicKey } = await cache.get('https://api.paypal.com/v1/notifications/certs/CERT-1');
 * ```
 */
export function createCertificateKeyCache(
  options: CertificateKeyCacheOptions,
): CertificateKeyCache {
  const { load, now, ttlMs, maxEntries } = options;
  const entries = new Map<string, Entry>();
  const loading = new Map<string, Promise<CertificateKey>>();

  function remember(url: string, value: CertificateKey): void {
    const expiresAtMs = Math.min(now() + ttlMs, value.notAfterMs);
    if (expiresAtMs <= now()) return;
    entries.delete(url);
    while (entries.size >= maxEntries) {
      // A Map iterates in insertion order and `get` re-inserts on a hit: first is least recent.
      const oldest = entries.keys().next();
      if (oldest.done) break;
      entries.delete(oldest.value);
    }
    entries.set(url, { value, expiresAtMs });
  }

  return {
    get(url) {
      const entry = entries.get(url);
      if (entry) {
        entries.delete(url);
        if (entry.expiresAtMs > now()) {
          entries.set(url, entry);
          return Promise.resolve(entry.value);
        }
      }
      const pending = loading.get(url);
      if (pending) return pending;
      const loaded = load(url)
        .then((value) => {
          remember(url, value);
          return value;
        })
        .finally(() => loading.delete(url));
      loading.set(url, loaded);
      return loaded;
    },
  };
}
