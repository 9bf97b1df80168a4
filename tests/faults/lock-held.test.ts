/**
 * A lock held on inbound_events (a migration, an operator's transaction): deliveries are
 * answered 503 with Retry-After within the request deadline (GATEHOUSE_DB_TIMEOUT_MS, 3 s)
 * instead of hanging, /health says the database is degraded, and once the lock is gone the
 * same server accepts again.
 */
import { describe, expect, it } from 'vitest';
import { startLoad } from './support/load.ts';
import { APP_SECRET, until, useServerOnCluster } from './support/server.ts';

const DEADLINE_MS = 3_000;
/** What a request may take past its deadline: scheduling on a busy 2-core machine. */
const SLACK_MS = 1_000;

const fault = useServerOnCluster();

describe('a lock held on inbound_events', () => {
  it('gets 503 within the deadline, a degraded /health, and 200s once released', async () => {
    const holder = fault.cluster.connect({ max: 1 });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holding = holder.begin(async (tx) => {
      await tx`lock table inbound_events in access exclusive mode`;
      locked();
      await released;
    });
    await isLocked;
    const lockedAt = Date.now();

    const load = await startLoad({
      baseUrl: fault.server.base,
      loop: { kind: 'closed', concurrency: 16 },
      traffic: { kind: 'signed', secret: APP_SECRET },
    });
    await load.waitFor((progress) => (progress.counts['503'] ?? 0) >= 32, 20_000);
    // Health turns degraded while the lock is held (sessions count as blocked after a
    // second of waiting), and keeps answering meanwhile.
    let report!: { checks: { database: { status: string; reason?: string } } };
    await until('/health degraded', async () => {
      const health = await fetch(`${fault.server.base}/functions/v1/health`);
      report = await health.json();
      return report.checks.database.status === 'degraded';
    }, 5_000);
    // The lock goes when its transaction commits, somewhere between these two instants.
    const releasing = Date.now();
    release();
    await holding;
    await holder.end();
    const releasedAt = Date.now();
    await load.waitFor((progress) => (progress.counts['200'] ?? 0) >= 50, 20_000);
    const result = await load.stop();

    // While locked: refusals with Retry-After, each within the deadline; no 200 before the
    // release began.
    const duringLock = result.records.filter((record) => record.start < releasedAt);
    expect(duringLock.length).toBeGreaterThanOrEqual(32);
    for (const record of duringLock) {
      if (record.status === 200) {
        expect(record.start + record.ms).toBeGreaterThanOrEqual(releasing);
        continue;
      }
      expect(record.status).toBe(503);
      expect(Number(record.retryAfter)).toBeGreaterThan(0);
      expect(record.ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
    }
    expect(fault.server.gatehouse.child.exitCode).toBeNull();
    expect(fault.server.faults()).toEqual([]);

    // Health said so, and stayed answerable.
    expect(report.checks.database.status).toBe('degraded');
    expect(['blocked_on_locks', 'statements_timing_out']).toContain(report.checks.database.reason);

    // After the release, the same server accepts and stores.
    const accepted = [...result.accepted];
    expect(accepted.length).toBeGreaterThanOrEqual(50);
    const stored = await fault.cluster.query<{ n: number }>(
      'select count(*)::int as n from inbound_events where event_key = any($1::text[])',
      [accepted],
    );
    expect(stored[0]!.n).toBe(accepted.length);
    console.log(
      `lock held ${releasedAt - lockedAt} ms: ${JSON.stringify(result.counts)}, ` +
        `slowest refusal ${Math.max(...duringLock.map((r) => r.ms)).toFixed(0)} ms, ` +
        `health ${report.checks.database.reason}`,
    );
  });
});
