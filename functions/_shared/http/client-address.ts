/**
 * The caller's address as the platform's proxy reports it: the last `X-Forwarded-For`
 * entry is the one the nearest trusted proxy added (earlier ones are client-supplied).
 * Undefined without one (or with one too long to be an address).
 */
export function clientAddress(headers: Headers): string | undefined {
  const forwarded = headers.get('x-forwarded-for');
  if (!forwarded) return undefined;
  const last = forwarded.split(',').map((part) => part.trim()).filter((part) => part).at(-1);
  return last !== undefined && last.length <= 64 ? last : undefined;
}
