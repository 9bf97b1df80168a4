import { ApiError, problemOf } from '../shared/api.ts';

/** Why an answer came from the service worker's copy (see web/public/app/sw.js). */
export type StaleReason = 'offline' | 'timeout' | 'error';

/** A read's answer, and whether it is the copy kept from an earlier read. */
export interface Fetched<T> {
  readonly data: T;
  /** Set when the answer is a kept copy: why, and when it was received. */
  readonly stale: { readonly reason: StaleReason; readonly at: Date | null } | null;
}

export interface Page<T> {
  readonly items: T[];
  readonly next_cursor: string | null;
}

export interface Profile {
  readonly display_name: string | null;
}

export interface Me {
  readonly id: string;
  readonly email: string | null;
  readonly role: string;
  readonly profile: Profile | null;
}

export interface Ride {
  readonly id: string;
  readonly passenger_user_id: string;
  readonly driver_user_id: string | null;
  readonly pickup: string;
  readonly dropoff: string;
  readonly status: 'requested' | 'accepted' | 'in_progress' | 'completed' | 'cancelled';
  readonly fare_cents: number | null;
  readonly currency: string | null;
  readonly version: number;
  readonly created_at: string;
}

export interface Vehicle {
  readonly id: string;
  readonly plate: string;
  readonly make: string | null;
  readonly model: string | null;
  readonly color: string | null;
  readonly seats: number | null;
  readonly status: 'active' | 'inactive';
  readonly created_at: string;
}

export interface QrCode {
  readonly id: string;
  readonly payload: string;
  readonly amount_cents: number | null;
  readonly currency: string | null;
  readonly created_at: string;
}

/** How long a request may take before the app says so (the service worker answers sooner). */
const REQUEST_TIMEOUT_MS = 30_000;

/** A fresh Idempotency-Key. */
export function newKey(): string {
  return crypto.randomUUID();
}

/**
 * The user API (`<functions URL>/api`) for the signed-in user: JSON in and out, refusals as
 * {@link ApiError}s (status 0: the network failed), reads with their staleness.
 */
export function userApi(base: string, token: () => Promise<string | null>) {
  async function send(path: string, init: RequestInit & { headers: Record<string, string> }) {
    const bearer = await token();
    if (bearer) init.headers.Authorization = `Bearer ${bearer}`;
    // A request on a bad connection can hang: give up after a while (a retry is safe, the
    // writes carry an Idempotency-Key). `AbortSignal.any` is missing on older phones.
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    const signal = !init.signal
      ? timeout
      : 'any' in AbortSignal
      ? AbortSignal.any([init.signal, timeout])
      : init.signal;
    try {
      return await fetch(`${base}${path}`, { ...init, signal });
    } catch (error) {
      if (timeout.aborted && !init.signal?.aborted) {
        throw new ApiError(0, 'Timed out', 'the server did not answer in time');
      }
      if ((error as Error).name === 'AbortError') throw error;
      throw new ApiError(
        0,
        navigator.onLine ? 'Network error' : 'Offline',
        navigator.onLine
          ? 'the server could not be reached'
          : 'this phone is offline and has not kept this yet',
      );
    }
  }

  function staleness(response: Response): Fetched<unknown>['stale'] {
    const reason = response.headers.get('X-Gatehouse-Stale');
    if (reason !== 'offline' && reason !== 'timeout' && reason !== 'error') return null;
    const at = response.headers.get('X-Gatehouse-Cached-At');
    const date = at ? new Date(at) : null;
    return { reason, at: date && !Number.isNaN(date.getTime()) ? date : null };
  }

  return {
    async get<T>(path: string, signal?: AbortSignal): Promise<Fetched<T>> {
      const response = await send(path, {
        headers: { Accept: 'application/json' },
        signal: signal ?? null,
      });
      if (!response.ok) throw await problemOf(response);
      return { data: await response.json() as T, stale: staleness(response) };
    },

    /** An image (the QR code) as a blob, for an object URL. */
    async blob(path: string, signal?: AbortSignal): Promise<Fetched<Blob>> {
      const response = await send(path, { headers: { Accept: 'image/*' }, signal: signal ?? null });
      if (!response.ok) throw await problemOf(response);
      return { data: await response.blob(), stale: staleness(response) };
    },

    /** A POST; `key` makes a retry of the same request safe (the API answers it once). */
    async post<T>(path: string, body: unknown, key?: string): Promise<T> {
      const headers: Record<string, string> = {
        Accept: 'application/json',
        'Content-Type': 'application/json',
      };
      if (key) headers['Idempotency-Key'] = key;
      const response = await send(path, { method: 'POST', headers, body: JSON.stringify(body) });
      if (!response.ok) throw await problemOf(response);
      return await response.json() as T;
    },
  };
}

export type UserApi = ReturnType<typeof userApi>;
