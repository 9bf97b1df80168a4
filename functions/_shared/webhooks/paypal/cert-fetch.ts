/** Downloading a certificate from a URL the verifier has already decided to trust. */
import { readStreamCapped } from '../../streams/index.ts';

/** The part of `fetch` the verifier uses; the global `fetch` fits. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface CertificateFetchLimits {
  timeoutMs: number;
  maxBytes: number;
}

/**
 * GETs `url` and returns the body as text, refusing redirects (a redirect could lead off the
 * allowed hosts), non-2xx answers, slow answers and bodies over `maxBytes`.
 *
 * @example
 * ```ts
 * const pem = await fetchCertificateText(fetch, url, { timeoutMs: 5_000, maxBytes: 65_536 });
 * ```
 */
export async function fetchCertificateText(
  fetch: FetchLike,
  url: string,
  limits: CertificateFetchLimits,
): Promise<string> {
  const response = await fetch(url, {
    method: 'GET',
    redirect: 'error',
    headers: { accept: 'application/x-pem-file, text/plain, */*' },
    // The signal also covers reading the body, so a server that trickles bytes times out too.
    signal: AbortSignal.timeout(limits.timeoutMs),
  });
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`certificate fetch answered ${response.status}`);
  }
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > limits.maxBytes) {
    await response.body?.cancel();
    throw new Error(`certificate is ${declared} bytes, over ${limits.maxBytes}`);
  }
  const bytes = await readStreamCapped(response.body, limits.maxBytes);
  if (bytes === null) throw new Error(`certificate is over ${limits.maxBytes} bytes`);
  return new TextDecoder().decode(bytes);
}
