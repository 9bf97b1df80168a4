import type { Context, MiddlewareHandler } from 'hono';
import { sha256Hex } from '../crypto/index.ts';
import type { Queryable } from '../db/types.ts';
import { ProblemError } from './problem.ts';

/** What a key may be: a UUID or up to 255 of `A-Z a-z 0-9 _ -` (a UUID is both). */
const KEY = /^[A-Za-z0-9_-]{1,255}$/;
/** How long a first request may hold its key before a retry may run in its place. */
export const IDEMPOTENCY_LOCK_MS = 60_000;
/** Response headers kept with the answer and replayed. */
const KEPT_HEADERS = ['content-type', 'etag', 'location'] as const;
/** Answers larger than this are not kept (the user API's are far smaller). */
const MAX_KEPT_BODY = 256 * 1024;

export interface IdempotencyOptions {
  /** The service role's pool (the table is no user's). */
  readonly db: Queryable;
  /** Whose keys these are: the signed-in user's id. */
  readonly subject: (c: Context) => string;
  /** How long the first answer is kept, in seconds (`GATEHOUSE_IDEMPOTENCY_TTL_SECONDS`). */
  readonly ttlSeconds: number;
  /** Routes that refuse a POST or PATCH without a key (400). */
  readonly required?: (c: Context) => boolean;
}

interface Kept {
  fingerprint: string;
  state: 'running' | 'done';
  status: number | null;
  headers: Record<string, string> | null;
  body: string | null;
}

/**
 * `Idempotency-Key` on POST and PATCH, after the IETF draft: the first answer (status, body,
 * `Content-Type`, `ETag`, `Location`) is kept per (caller, key) with a fingerprint of the
 * request (method, path, body); a retry with the same key and request gets it back with
 * `Idempotent-Replayed: true`; the same key with another request gets 422; a retry while
 * the first still runs gets 409. A 5xx answer is not kept: the work did not happen, so the
 * retry runs it. Keys expire after `ttlSeconds`. A first request that dies while running
 * holds its key for at most `IDEMPOTENCY_LOCK_MS`, after which a retry runs it again.
 *
 * @example
 * api.use('*', idempotency({ db, subject: (c) => c.get('user').id, ttlSeconds: 86_400 }));
 */
export function idempotency(options: IdempotencyOptions): MiddlewareHandler {
  return async function idempotency(c, next) {
    if (c.req.method !== 'POST' && c.req.method !== 'PATCH') return await next();
    const key = c.req.header('idempotency-key');
    if (key === undefined) {
      if (options.required?.(c)) {
        throw new ProblemError(400, {
          detail: 'this request needs an Idempotency-Key header (a UUID)',
        });
      }
      return await next();
    }
    if (!KEY.test(key)) {
      throw new ProblemError(400, {
        detail: 'Idempotency-Key must be a UUID or 1-255 of A-Z a-z 0-9 _ -',
      });
    }
    const subject = options.subject(c);
    const fingerprint = requestFingerprint(c.req.method, c.req.path, await c.req.text());
    // Take the key: new, expired, or left running past its lock by the same request.
    const claimed = await options.db.query(
      `insert into public.idempotency_keys as k
              (user_id, key, fingerprint, locked_until, expires_at)
       values ($1, $2, $3, now() + $4 * interval '1 millisecond',
               now() + $5 * interval '1 second')
       on conflict (user_id, key) do update
          set fingerprint = excluded.fingerprint, state = 'running', status = null,
              headers = null, body = null, created_at = now(),
              locked_until = excluded.locked_until, expires_at = excluded.expires_at
        where k.expires_at <= now()
           or (k.state = 'running' and k.locked_until <= now()
               and k.fingerprint = excluded.fingerprint)
       returning 1`,
      [subject, key, fingerprint, IDEMPOTENCY_LOCK_MS, options.ttlSeconds],
    );
    if (claimed.length === 0) return replay(await kept(options.db, subject, key), fingerprint);

    try {
      await next();
    } catch (error) {
      await release(options.db, subject, key);
      throw error;
    }
    const res = c.res;
    const body = res.status < 500 ? await res.clone().text() : null;
    if (body === null || body.length > MAX_KEPT_BODY) {
      await release(options.db, subject, key);
      return;
    }
    const headers = Object.fromEntries(
      KEPT_HEADERS.flatMap((name) => {
        const value = res.headers.get(name);
        return value === null ? [] : [[name, value]];
      }),
    );
    await options.db.query(
      `update public.idempotency_keys set state = 'done', status = $3, headers = $4::jsonb,
              body = $5
        where user_id = $1 and key = $2`,
      [subject, key, res.status, headers, body],
    );
  };
}

/** What makes two requests with one key the same request: method, path and body. */
export function requestFingerprint(method: string, path: string, body: string): string {
  return sha256Hex(`${method} ${path}\n${body}`);
}

async function kept(db: Queryable, subject: string, key: string): Promise<Kept | undefined> {
  const [row] = await db.query<Kept & Record<string, unknown>>(
    `select fingerprint, state, status, headers, body from public.idempotency_keys
      where user_id = $1 and key = $2`,
    [subject, key],
  );
  return row;
}

function replay(row: Kept | undefined, fingerprint: string): Response {
  if (row === undefined) {
    // Released between our claim and this read (its first request failed): retry.
    throw new ProblemError(409, {
      detail: 'a request with this Idempotency-Key just failed; retry',
      headers: { 'Retry-After': '1' },
    });
  }
  if (row.fingerprint !== fingerprint) {
    throw new ProblemError(422, {
      detail: 'this Idempotency-Key was used for a different request',
    });
  }
  if (row.state === 'running') {
    throw new ProblemError(409, {
      detail: 'a request with this Idempotency-Key is still running; retry later',
      headers: { 'Retry-After': '1' },
    });
  }
  return new Response(row.body, {
    status: row.status!,
    headers: { ...row.headers, 'Idempotent-Replayed': 'true' },
  });
}

async function release(db: Queryable, subject: string, key: string): Promise<void> {
  await db.query(
    `delete from public.idempotency_keys where user_id = $1 and key = $2 and state = 'running'`,
    [subject, key],
  );
}

/**
 * Deletes up to `batch` expired keys (the maintenance job calls it hourly); the count.
 *
 * @example
 * await purgeExpiredIdempotencyKeys(tx, 1_000);
 */
export async function purgeExpiredIdempotencyKeys(db: Queryable, batch: number) {
  const deleted = await db.query(
    `with doomed as (
       select user_id, key from public.idempotency_keys
        where expires_at <= now() order by expires_at limit $1 for update skip locked
     )
     delete from public.idempotency_keys k using doomed d
      where k.user_id = d.user_id and k.key = d.key
     returning 1`,
    [batch],
  );
  return deleted.length;
}
