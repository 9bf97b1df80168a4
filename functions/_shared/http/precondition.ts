import { ProblemError } from './problem.ts';

/**
 * Optimistic locking over HTTP, as the user API and the admin API do it: a row's `version`
 * goes out as `ETag: "<version>"`, and a change names the version it read, either as
 * `If-Match: "<version>"` (a stale one answers 412) or as `version` in the body (a stale one
 * answers 409). Neither: 428, since the change would overwrite what its client never saw.
 */

/** The version a change must apply to, and where the client said it. */
export interface Precondition {
  readonly version: number;
  /** Where it came from: a stale `If-Match` answers 412, a stale body version 409. */
  readonly from: 'if-match' | 'body';
}

/** The change's precondition: `If-Match` first, else the body's `version`, else 428. */
export function precondition(
  ifMatch: string | undefined,
  bodyVersion: number | undefined,
): Precondition {
  if (ifMatch !== undefined) {
    const match = /^\s*"(\d{1,9})"\s*$/.exec(ifMatch);
    if (!match) {
      throw new ProblemError(400, { detail: 'If-Match must be the ETag this API sent, e.g. "3"' });
    }
    return { version: Number(match[1]), from: 'if-match' };
  }
  if (bodyVersion !== undefined) return { version: bodyVersion, from: 'body' };
  throw new ProblemError(428, {
    detail: 'send If-Match with the ETag you read, or the version in the body',
  });
}

/**
 * The answer to a change of a row now at version `current` that expected another: 412 or
 * 409 by where the expectation came from, with `current_version` and the current `ETag`.
 */
export function staleVersion(current: unknown, expected: Precondition): ProblemError {
  const detail = `changed since it was read: version ${current}, not ${expected.version}`;
  return new ProblemError(expected.from === 'if-match' ? 412 : 409, {
    detail,
    extensions: { current_version: current },
    headers: { ETag: `"${current}"` },
  });
}

/** The ETag of a row at `version`. */
export const versionTag = (version: unknown) => `"${version}"`;
