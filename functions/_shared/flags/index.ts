import type { Clock } from '../clock.ts';
import type { Queryable } from '../db/types.ts';

/** How old a cached snapshot may be; operators' SQL updates show within this + one query. */
export const FLAG_MAX_AGE_MS = 1_000;

export interface FlagReader {
  /** A flag with no row is enabled: switches exist before anyone writes them. */
  isEnabled(key: string): Promise<boolean>;
}

export interface FlagReaderOptions {
  readonly clock: Clock;
  readonly maxAgeMs?: number;
  /** Called when a refresh fails and a stale snapshot is used instead. */
  readonly onStale?: (error: unknown) => void;
}

/**
 * Reads `feature_flags` through a per-instance snapshot refreshed at most every
 * `maxAgeMs`; concurrent callers share one refresh. If a refresh fails, the last snapshot
 * keeps answering (reported through `onStale`); with no snapshot at all the error
 * propagates, so callers answer 503 rather than guess.
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
    refreshing ??= load().finally(() => (refreshing = undefined));
    try {
      return await refreshing;
    } catch (error) {
      if (!snapshot) throw error;
      options.onStale?.(error);
      return snapshot.flags;
    }
  }

  return {
    async isEnabled(key) {
      return (await current()).get(key) ?? true;
    },
  };
}
