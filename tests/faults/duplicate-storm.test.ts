/**
 * A provider redelivers one event 10,000 times, 64 at once: one event is stored and one
 * job runs for it, once; a redelivery is answered 200 `duplicate` (it costs no rate-limit
 * token, so the storm is never told to come back with a 429). The only other answer is
 * the admission's 503 with `Retry-After` when the process is pressed: once a slow moment
 * (a cold start, a busy machine) has lowered the in-flight limit below 64, a closed loop
 * of 64 spins on refusals until it grows back. Shedding is the overload test's subject;
 * here at least a thousand redeliveries must be answered, all of them `duplicate`.
 */
import { describe, expect, it } from 'vitest';
import { startLoad } from './support/load.ts';
import { APP_SECRET, until, useServerOnCluster } from './support/server.ts';

const STORM = 10_000;

const fault = useServerOnCluster();

describe('a storm of 10,000 duplicate deliveries', () => {
  it('stores one event and runs one job, once', async () => {
    const load = await startLoad({
      baseUrl: fault.server.base,
      loop: { kind: 'closed', concurrency: 64 },
      traffic: { kind: 'signed', secret: APP_SECRET, duplicate: true },
      maxRequests: STORM,
    });
    const result = await load.finished();
    console.log(`duplicate storm: ${result.sent} sent, ${JSON.stringify(result.counts)}`);

    expect(fault.server.faults()).toEqual([]);
    expect(result.sent).toBe(STORM);
    const shed = result.records.filter((r) => r.status === 503);
    expect(Object.keys(result.counts).sort()).toEqual(shed.length > 0 ? ['200', '503'] : ['200']);
    expect(shed.every((r) => r.retryAfter !== undefined)).toBe(true);
    expect(STORM - shed.length).toBeGreaterThanOrEqual(1_000);
    const results = result.records.filter((r) => r.status === 200).map((r) => r.result);
    expect(results.filter((r) => r === 'accepted')).toHaveLength(1);
    expect(results.filter((r) => r === 'duplicate')).toHaveLength(results.length - 1);

    const [key] = [...result.accepted];
    const events = await fault.cluster.query<{ id: string; status: string }>(
      'select id::text, status from inbound_events',
    );
    expect(events).toHaveLength(1);
    await until('the event processed', async () => {
      const [row] = await fault.cluster.query<{ status: string }>(
        'select status from inbound_events where event_key = $1',
        [key],
      );
      return row?.status === 'processed';
    });
    const jobs = await fault.cluster.query<{ status: string; attempts: number }>(
      `select status, attempts from jobs where payload ->> 'inbound_event_id' = $1`,
      [events[0]!.id],
    );
    expect(jobs).toEqual([{ status: 'completed', attempts: 1 }]);
  });
});
