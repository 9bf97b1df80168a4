/**
 * The server is killed with -9 under load and started again on the same database: every
 * delivery it acknowledged is stored, and every stored event's job completes exactly once,
 * the ones the dead worker held included (its leases run out; see the job lease heartbeat).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startThrowawayCluster, type ThrowawayCluster } from './support/cluster.ts';
import { startLoad } from './support/load.ts';
import {
  APP_SECRET,
  type FaultServer,
  removeDataDir,
  startFaultServer,
  until,
} from './support/server.ts';

/** The bound for a killed worker's jobs to run again. */
const RERUN_WITHIN_MS = 30_000;

let cluster: ThrowawayCluster;
let restarted: FaultServer | undefined;
const dataDirs: string[] = [];

beforeAll(async () => {
  cluster = await startThrowawayCluster();
});

afterAll(async () => {
  await restarted?.stop();
  for (const dir of dataDirs) await removeDataDir(dir);
  await cluster?.destroy();
});

interface JobState {
  unfinished: number;
  completedTwice: number;
  events: number;
  jobs: number;
}

async function jobState(): Promise<JobState> {
  const [row] = await cluster.query<JobState>(
    `select (select count(*) from jobs where status <> 'completed')::int as unfinished,
            (select count(*) from inbound_events e
              where (select count(*) from jobs j
                      where j.payload ->> 'inbound_event_id' = e.id::text) <> 1)::int
              as "completedTwice",
            (select count(*) from inbound_events)::int as events,
            (select count(*) from jobs where queue = 'whatsapp')::int as jobs`,
  );
  return row!;
}

describe('kill -9 under load, then restart', () => {
  it('loses no acknowledged event and completes every job once', async () => {
    const first = await startFaultServer({ databaseUrl: cluster.url });
    dataDirs.push(first.dataDir);
    const load = await startLoad({
      baseUrl: first.base,
      loop: { kind: 'closed', concurrency: 32 },
      traffic: { kind: 'signed', secret: APP_SECRET },
    });
    await load.waitFor((progress) => (progress.counts['200'] ?? 0) >= 500, 20_000);
    await first.kill9();
    const killedAt = Date.now();
    // Requests to the dead port fail to connect for a moment; then the same port serves again.
    restarted = await startFaultServer({ databaseUrl: cluster.url, port: first.port });
    await load.waitFor((progress) => progress.lastOkAt !== null && progress.lastOkAt > killedAt);
    const result = await load.stop();

    // Every acknowledged delivery is stored.
    const accepted = [...result.accepted];
    const stored = await cluster.query<{ event_key: string }>(
      'select event_key from inbound_events where event_key = any($1::text[])',
      [accepted],
    );
    expect(stored.length).toBe(accepted.length);
    // Answers were 200s, connections refused or cut while the server was down, or 503
    // while the new one was starting (it binds its port before it opens the database).
    const allowed = ['200', '503', 'ConnectionRefused', 'ConnectionReset', 'ConnectionClosed'];
    for (const [status] of Object.entries(result.counts)) expect(allowed).toContain(status);

    // The restarted server's worker finishes everything, the killed worker's jobs included.
    const waited = await until(
      'every job completed',
      async () => (await jobState()).unfinished === 0,
      RERUN_WITHIN_MS + 15_000,
    );
    const state = await jobState();
    console.log(
      `kill -9: ${accepted.length} acknowledged, ${state.events} stored, ${state.jobs} jobs, ` +
        `all completed ${waited} ms after the load stopped`,
    );
    expect(state.events).toBeGreaterThanOrEqual(accepted.length);
    expect(state.jobs).toBe(state.events);
    expect(state.completedTwice).toBe(0);
    // Each event was processed once: its job's transaction marked it, exactly once.
    const [processed] = await cluster.query<{ unprocessed: number }>(
      `select count(*)::int as unprocessed from inbound_events where status <> 'processed'`,
    );
    expect(processed!.unprocessed).toBe(0);
    expect(waited).toBeLessThan(RERUN_WITHIN_MS);
    expect(restarted.faults()).toEqual([]);
  });
});
