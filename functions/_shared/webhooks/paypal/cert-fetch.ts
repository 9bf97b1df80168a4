/** Downloading a certificate from a URL the verifier has already decided to trust. */

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
  return new TextDecoder().decode(await readCapped(response, limits.maxBytes));
}

async function readCapped(response: Response, maxBytes: number): Promise<Uint8Array> {
  if (!response.body) return new Uint8Array();
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel();
      throw new Error(`certificate is over ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}
