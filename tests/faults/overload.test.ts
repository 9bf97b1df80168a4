/**
 * Deliveries arrive at four times what the server can take: it sheds the excess with 503
 * (or 429 from the rate limits) and a Retry-After, answers every request, acknowledges only
 * what it stored, and its memory stays within budget.
 */
import { describe, expect, it } from 'vitest';
import { startLoad } from './support/load.ts';
import { sampleRss } from './support/rss.ts';
import { APP_SECRET, useServerOnCluster } from './support/server.ts';

const RSS_BUDGET_KB = 300 * 1024;
const ANSWERS = new Set(['200', '429', '503']);

const fault = useServerOnCluster();

describe('overload at 4x capacity', () => {
  it('sheds with Retry-After, answers everything, stores what it acknowledged', async () => {
    // Capacity: what 64 concurrent senders get through, once warm.
    const probe = await startLoad({
      baseUrl: fault.server.base,
      loop: { kind: 'closed', concurrency: 64 },
      traffic: { kind: 'signed', secret: APP_SECRET },
      durationMs: 4_000,
    });
    const measured = await probe.finished();
    const capacity = (measured.counts['200'] ?? 0) /
      ((measured.endedAt - measured.startedAt) / 1000);
    expect(capacity).toBeGreaterThan(0);

    const rss = sampleRss(fault.server.pid, { resetHighWater: true });
    const load = await startLoad({
      baseUrl: fault.server.base,
      loop: { kind: 'open', rate: Math.round(4 * capacity), arrivals: 'poisson' },
      traffic: { kind: 'signed', secret: APP_SECRET },
      durationMs: 10_000,
    });
    const result = await load.finished();
    const memory = rss.stop();
    console.log(
      `overload: capacity ${Math.round(capacity)}/s, offered ${Math.round(4 * capacity)}/s, ` +
        `${result.sent} sent, ${JSON.stringify(result.counts)}, accepted p50 ` +
        `${result.okLatency.p50} ms p99 ${result.okLatency.p99} ms, ` +
        `peak RSS ${Math.round(memory.peakKb / 1024)} MB`,
    );

    expect(fault.server.gatehouse.child.exitCode).toBeNull();
    expect(fault.server.faults()).toEqual([]);
    // Every request got an answer (none timed out or was cut), and only these answers.
    for (const status of Object.keys(result.counts)) expect(ANSWERS.has(status)).toBe(true);
    // Overload was shed: refusals with a time to come back.
    const refused = result.records.filter((r) => r.status === 503 || r.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    for (const record of refused) expect(Number(record.retryAfter)).toBeGreaterThan(0);
    // What was acknowledged is stored.
    const accepted = [...result.accepted];
    expect(accepted.length).toBeGreaterThan(0);
    const [row] = await fault.cluster.query<{ n: number }>(
      'select count(*)::int as n from inbound_events where event_key = any($1::text[])',
      [accepted],
    );
    expect(row!.n).toBe(accepted.length);
    expect(memory.peakKb).toBeLessThan(RSS_BUDGET_KB);
  });
});
