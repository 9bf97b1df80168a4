/**
 * Overload settings for a commit queue or ingestor that never sheds: for tests of what a
 * burst stores, which a first commit slower than the shedding rule's 100 ms (a busy machine,
 * a connection's first call) would otherwise partly answer 503 by design. The rule itself is
 * tested with its own settings.
 */
export const NO_SHEDDING = { targetMs: 60_000, intervalMs: 60_000 } as const;
