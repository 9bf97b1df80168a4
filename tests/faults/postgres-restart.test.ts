/**
 * Postgres goes away under load and comes back: the server never acknowledges what it did
 * not store, answers 503 (or the connection fails) meanwhile, survives, and answers 200 again
 * within 2 s of Postgres accepting connections, without a restart.
 */
import { describe, expect, it } from 'vitest';
import type { StopMode } from './support/cluster.ts';
import { startLoad } from './support/load.ts';
import { APP_SECRET, useServerOnCluster } from './support/server.ts';

/** The bound: 200s again within this long of Postgres accepting connections. */
const RECOVERY_MS = 2_000;
/** Statuses a delivery may get while the database is away, besides a failed connection. */
const OUTAGE_ANSWERS = new Set(['200', '503']);

const fault = useServerOnCluster();

async function storedKeys(keys: readonly string[]): Promise<Set<string>> {
  const rows = await fault.cluster.query<{ event_key: string }>(
    'select event_key from inbound_events where event_key = any($1::text[])',
    [keys],
  );
  return new Set(rows.map((row) => row.event_key));
}

describe.each<StopMode>(['fast', 'immediate'])('Postgres stopped (%s) under load', (mode) => {
  it('is survived: no 200 for an unstored event, 503s meanwhile, 200s within 2 s after', async () => {
    const load = await startLoad({
      baseUrl: fault.server.base,
      loop: { kind: 'closed', concurrency: 32 },
      traffic: { kind: 'signed', secret: APP_SECRET },
    });
    await load.waitFor((progress) => (progress.counts['200'] ?? 0) >= 300, 20_000);

    await fault.cluster.stop(mode);
    // The outage lasts until the server has answered a good number of deliveries without
    // the database (they must all be refusals).
    await load.waitFor((progress) => (progress.counts['503'] ?? 0) >= 200, 20_000);
    await fault.cluster.start();
    const backAt = Date.now();
    await load.waitFor(
      (progress) => progress.lastOkAt !== null && progress.lastOkAt >= backAt,
      10_000,
    );
    const result = await load.stop();

    // The process survived, with nothing unhandled.
    expect(fault.server.gatehouse.child.exitCode).toBeNull();
    expect(fault.server.faults()).toEqual([]);

    // Every answer was a 200, a 503 with Retry-After, or a failed connection; never a 500.
    const http = result.records.filter((record) => typeof record.status === 'number');
    const unexpected = http.filter((record) => !OUTAGE_ANSWERS.has(String(record.status)));
    const errorLines = fault.server.gatehouse.output().split('\n')
      .filter((line) => /"status":5(0[0-2]|0[4-9])/.test(line));
    expect(unexpected.slice(0, 5), errorLines.slice(0, 5).join('\n')).toEqual([]);
    const refusals = result.records.filter((record) => record.status === 503);
    expect(refusals.length).toBeGreaterThanOrEqual(200);
    for (const refusal of refusals) expect(Number(refusal.retryAfter)).toBeGreaterThan(0);

    // A 200 means stored: every acknowledged key is in inbound_events.
    const accepted = [...result.accepted];
    expect(accepted.length).toBeGreaterThan(300);
    const stored = await storedKeys(accepted);
    expect(accepted.filter((key) => !stored.has(key))).toEqual([]);

    // Back within the bound, without a restart.
    const first = result.firstAfter(backAt, 200);
    expect(first).toBeDefined();
    console.log(
      `Postgres ${mode} stop: ${result.sent} requests, ${JSON.stringify(result.counts)}; ` +
        `first 200 ${first!.end - backAt} ms after Postgres was back`,
    );
    expect(first!.end - backAt).toBeLessThanOrEqual(RECOVERY_MS);
  });
});
