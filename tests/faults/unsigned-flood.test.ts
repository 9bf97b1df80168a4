/**
 * 128 connections send 3 MB bodies as fast as they can, unsigned or wrongly signed. Each is
 * admitted within the in-flight and buffered-bytes caps or shed with 503 before it is read;
 * an admitted unsigned body is refused with 401 before it is read, a wrongly signed one is
 * read (the signature covers it) and refused with 401. The server stays within its memory
 * budget, answers nothing else, and takes a good delivery right after. The last flood
 * streams its bodies to a route that never reads them (the user API, 401 without a token):
 * no byte of them may be read or held.
 */
import { describe, expect, it } from 'vitest';
import { startLoad } from './support/load.ts';
import { sampleRss } from './support/rss.ts';
import { APP_SECRET, useServerOnCluster } from './support/server.ts';

/** The issue's budget for the server under this flood, on Postgres. */
const RSS_BUDGET_KB = 300 * 1024;
const BODY_BYTES = 3 * 1024 * 1024;

const fault = useServerOnCluster();

describe.each([
  { signature: 'none' as const, transfer: 'length' as const, to: 'intake', path: undefined },
  { signature: 'none' as const, transfer: 'chunked' as const, to: 'intake', path: undefined },
  { signature: 'wrong' as const, transfer: 'length' as const, to: 'intake', path: undefined },
  {
    signature: 'none' as const,
    transfer: 'chunked' as const,
    to: 'the user API',
    path: '/functions/v1/api/vehicles',
  },
])('128 connections of 3 MB bodies, signature $signature, $transfer, to $to', (flood) => {
  it('stays within 300 MB, refuses every body with a 4xx or a 503, and serves after', async () => {
    const rss = sampleRss(fault.server.pid, { resetHighWater: true });
    const load = await startLoad({
      baseUrl: fault.server.base,
      ...(flood.path ? { path: flood.path } : {}),
      loop: { kind: 'closed', concurrency: 128 },
      traffic: {
        kind: 'unsigned-big',
        bodyBytes: BODY_BYTES,
        signature: flood.signature,
        transfer: flood.transfer,
      },
      durationMs: 8_000,
    });
    const result = await load.finished();
    const memory = rss.stop();

    console.log(
      `3 MB ${flood.signature}/${flood.transfer}${
        flood.path ? ` to ${flood.to}` : ''
      }: ${result.sent} bodies, ` +
        `${JSON.stringify(result.counts)}, peak RSS ${Math.round(memory.peakKb / 1024)} MB ` +
        `(high-water ${Math.round((memory.highWaterKb ?? 0) / 1024)} MB)`,
    );
    expect(fault.server.gatehouse.child.exitCode).toBeNull();
    expect(fault.server.faults()).toEqual([]);
    expect(result.sent).toBeGreaterThan(128);
    // Refusals only; a broken connection is the client's own flood cut short by our answer.
    const answered = Object.entries(result.counts).filter(([status]) => /^\d+$/.test(status));
    for (const [status] of answered) expect(['401', '503']).toContain(status);
    expect(answered.reduce((sum, [, n]) => sum + n, 0)).toBeGreaterThan(result.sent / 2);
    for (const record of result.records) {
      if (record.status === 503) expect(Number(record.retryAfter)).toBeGreaterThan(0);
    }
    expect(memory.peakKb).toBeLessThan(RSS_BUDGET_KB);
    expect(memory.highWaterKb ?? 0).toBeLessThan(RSS_BUDGET_KB);

    // A good delivery is served right after.
    const good = await startLoad({
      baseUrl: fault.server.base,
      loop: { kind: 'closed', concurrency: 1 },
      traffic: { kind: 'signed', secret: APP_SECRET },
      maxRequests: 5,
    });
    expect((await good.finished()).counts).toEqual({ '200': 5 });
  });
});
