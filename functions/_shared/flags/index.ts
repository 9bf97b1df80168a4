import type { AppFlag } from '../app.ts';
import type { Clock } from '../clock.ts';
import type { Queryable } from '../db/types.ts';

/** How old a cached snapshot may be; operators' SQL updates show within this + one query. */
export const FLAG_MAX_AGE_MS = 1_000;
/**
 * How long a caller holding a stale snapshot waits for its refresh before it answers from
 * the stale one: a slow database then costs a delivery this much, not its whole deadline.
 */
export const FLAG_REFRESH_WAIT_MS = 250;

export interface FlagReader {
  /** A flag with no row is enabled: switches exist before anyone writes them. */
  isEnabled(key: string): Promise<boolean>;
  /** Every flag there is a row or a declared default for, on or off. */
  all(): Promise<Record<string, boolean>>;
}

export interface FlagReaderOptions {
  readonly clock: Clock;
  readonly maxAgeMs?: number;
  /** What a flag with no row answers, by key (the app's declared flags); else enabled. */
  readonly defaults?: Readonly<Record<string, boolean>>;
  /** Called when a refresh fails and a stale snapshot is used instead. */
  readonly onStale?: (error: unknown) => void;
}

/**
 * Reads `feature_flags` through a per-instance snapshot refreshed at most every
 * `maxAgeMs`; concurrent callers share one refresh. If a refresh fails, or takes longer
 * than {@link FLAG_REFRESH_WAIT_MS}, the last snapshot keeps answering (a failure is
 * reported through `onStale`); with no snapshot at all the caller waits for the refresh and
 * its error propagates, so callers answer 503 rather than guess.
 *
 * @example
 * const flags = createFlagReader(db, { clock: systemClock });
 * if (!(await flags.isEnabled('intake.stripe'))) throw new ProblemError(503);
 */
export function createFlagReader(db: Queryable, options: FlagReaderOptions): FlagReader {
  const maxAgeMs = options.maxAgeMs ?? FLAG_MAX_AGE_MS;
  let snapshot: { loadedAt: number; flags: Map<string, boolean> } | undefined;
  let refreshing: Promise<Map<string, boolean>> | undefined;

  async function load(): Promise<Map<string, boolean>> {
    const startedAt = options.clock.now();
    const rows = await db.query<{ key: string; enabled: boolean }>(
      'select key, enabled from public.feature_flags',
    );
    const flags = new Map(rows.map((row) => [row.key, row.enabled]));
    // Stamp with the time the query started: the snapshot is at least that fresh.
    snapshot = { loadedAt: startedAt, flags };
    return flags;
  }

  async function current(): Promise<Map<string, boolean>> {
    if (snapshot && options.clock.now() - snapshot.loadedAt < maxAgeMs) return snapshot.flags;
    if (!refreshing) {
      const started = load().finally(() => (refreshing = undefined));
      // Reported once per failed refresh, whoever waited for it.
      started.catch((error) => {
        if (snapshot) options.onStale?.(error);
      });
      refreshing = started;
    }
    if (!snapshot) return await refreshing;
    const last = snapshot;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<Map<string, boolean>>((resolve) => {
      timer = setTimeout(() => resolve(last.flags), FLAG_REFRESH_WAIT_MS);
    });
    try {
      return await Promise.race([refreshing, waited]);
    } catch {
      return last.flags;
    } finally {
      clearTimeout(timer);
    }
  }

  const defaults = options.defaults ?? {};
  return {
    async isEnabled(key) {
      return (await current()).get(key) ?? (Object.hasOwn(defaults, key) ? defaults[key]! : true);
    },
    async all() {
      return { ...defaults, ...Object.fromEntries(await current()) };
    },
  };
}

/** What the `feature_flags.key` check constraint admits. */
export const FLAG_KEY = /^[a-z0-9][a-z0-9_.:-]*$/;

/** The app's flags' defaults, for {@link FlagReaderOptions.defaults}. */
export function flagDefaults(
  flags: Readonly<Record<string, AppFlag>> | undefined,
): Record<string, boolean> {
  return Object.fromEntries(
    Object.entries(flags ?? {}).map(([key, flag]) => [key, flag.enabled ?? true]),
  );
}

/**
 * Writes a `feature_flags` row for each of the app's flags the table lacks (its default
 * and description), leaving every existing row, an operator's choice, as it is. Resolves
 * to the keys it added. Throws `TypeError` naming a key the table would refuse.
 *
 * @example
 * const added = await registerFlags(db, app.flags); // ['rides.whatsapp']
 */
export async function registerFlags(
  db: Queryable,
  flags: Readonly<Record<string, AppFlag>> | undefined,
): Promise<string[]> {
  const entries = Object.entries(flags ?? {});
  for (const [key, flag] of entries) {
    if (!FLAG_KEY.test(key)) {
      throw new TypeError(
        `app flag "${key}": keys are lower-case letters, digits and _ . : - (first a letter or digit)`,
      );
    }
    if (typeof flag.description !== 'string' || flag.description.trim() === '') {
      throw new TypeError(`app flag "${key}": a description is required`);
    }
  }
  if (entries.length === 0) return [];
  const rows = await db.query<{ key: string }>(
    `insert into public.feature_flags (key, enabled, description)
     select f.key, f.enabled, f.description
       from jsonb_to_recordset($1::jsonb) as f(key text, enabled boolean, description text)
     on conflict (key) do nothing
     returning key`,
    [entries.map(([key, flag]) => ({
      key,
      enabled: flag.enabled ?? true,
      description: flag.description,
    }))],
  );
  return rows.map((row) => row.key).sort();
}
