/**
 * `gatehouse events list|show` against a real database: what happened to the events a
 * provider sent, from intake through their jobs, as an operator reads it.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runEventsCommand } from '../cli/events-command.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createJobRegistry, createJobRunner } from '../functions/_shared/jobs/index.ts';
import { PermanentJobError } from '../functions/_shared/queue/index.ts';
import { capturedLogger } from './support/logs.ts';
import { clientEnv } from './support/database.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const projectRoot = join(import.meta.dirname, '..');
const database = useMigratedDatabase({
  reset: 'delete from jobs; delete from dead_jobs; delete from inbound_events;',
});

async function run(args: string[]) {
  const lines: string[] = [];
  const pool = clientEnv(database.kind);
  const code = await runEventsCommand(args, {
    env: { DATABASE_URL: database.url, ...pool },
    projectRoot,
    print: (line) => lines.push(...line.split('\n')),
  });
  return { code, lines, text: lines.join('\n') };
}

/** Stores Stripe events as the intake does, each with its job. */
async function receive(...keys: string[]) {
  await database.db.query(`select * from ingest_events('stripe', $1::jsonb, '{}')`, [
    keys.map((key, slot) => ({
      slot,
      key,
      type: 'charge.succeeded',
      kind: 'stripe.event',
      payload: { id: key, type: 'charge.succeeded' },
      request_id: `req-${key}`,
    })),
  ]);
}

/** One worker pass in which the app refuses `evt_bad` for good. */
async function work() {
  const registry = createJobRegistry({
    retentionDays: 7,
    app: {
      name: 'test',
      processors: {
        'stripe.event': (event) =>
          event.eventKey === 'evt_bad'
            ? Promise.reject(new PermanentJobError('unknown customer'))
            : Promise.resolve(),
      },
    },
  });
  const config = parseConfig({});
  const runner = createJobRunner({
    config,
    db: database.db,
    logger: capturedLogger().logger,
    clock: systemClock,
    registry,
  });
  await runner.pass();
}

/** A table's lines split into cells (columns are separated by two or more spaces). */
const cells = (lines: string[]) => lines.map((line) => line.split(/ {2,}/));

describe('gatehouse events', () => {
  it('lists the latest events with their job, newest first, and filters them', async () => {
    await receive('evt_ok');
    await receive('evt_bad');
    await receive('evt_third');
    await work();
    await receive('evt_new');

    const all = await run(['list']);
    expect(all.code).toBe(0);
    const rows = cells(all.lines.slice(0, -1));
    expect(rows[0]).toEqual([
      'received',
      'provider',
      'event key',
      'type',
      'status',
      'job',
      'attempts',
    ]);
    expect(
      rows.slice(1).map(([, provider, key, type, status, job, attempts]) => [
        provider,
        key,
        type,
        status,
        job,
        attempts,
      ]),
    ).toEqual([
      ['stripe', 'evt_new', 'charge.succeeded', 'accepted', 'pending', '0'],
      ['stripe', 'evt_third', 'charge.succeeded', 'processed', 'completed', '1'],
      ['stripe', 'evt_bad', 'charge.succeeded', 'failed', 'dead', '1'],
      ['stripe', 'evt_ok', 'charge.succeeded', 'processed', 'completed', '1'],
    ]);
    expect(all.lines.at(-1)).toBe('4 event(s) (received within 1 hour), newest first');

    const failed = await run(['list', '--status', 'failed', '--provider', 'stripe']);
    expect(failed.lines.at(-1)).toBe(
      '1 event(s) (received within 1 hour, provider stripe, status failed), newest first',
    );
    expect(failed.text).toContain('evt_bad');
    expect(failed.text).not.toContain('evt_ok');

    expect((await run(['list', '--provider', 'paypal'])).lines).toEqual([
      'no events (received within 1 hour, provider paypal)',
    ]);
    const json = await run(['list', '--json', '--limit', '1']);
    expect(JSON.parse(json.text)).toEqual([
      expect.objectContaining({ key: 'evt_new', status: 'accepted', jobStatus: 'pending' }),
    ]);

    // An event received two hours ago is outside the default hour, inside --since 3h.
    await database.db.query(
      `update inbound_events set received_at = now() - interval '2 hours'
        where provider = 'stripe' and event_key = 'evt_ok'`,
    );
    const recent = await run(['list']);
    expect(recent.lines.at(-1)).toBe('3 event(s) (received within 1 hour), newest first');
    expect(recent.text).not.toContain('evt_ok');
    const wider = await run(['list', '--since', '3h']);
    expect(wider.lines.at(-1)).toBe('4 event(s) (received within 3 hours), newest first');
    expect(wider.text).toContain('evt_ok');
  });

  it('shows one event: its outcome, its job and every error', async () => {
    await receive('evt_ok', 'evt_bad');
    await work();

    const ok = await run(['show', 'stripe', 'evt_ok']);
    expect(ok.code).toBe(0);
    expect(ok.lines[0]).toBe('event stripe evt_ok');
    expect(ok.text).toContain('status      processed: its job completed');
    expect(ok.text).toContain('request id  req-evt_ok');
    expect(ok.text).toMatch(/job \d+ {2}stripe\.event {2}completed {2}attempt 1 of 5 {2}at \S+Z/);
    expect(ok.lines.at(-1)).toBe(
      '  payload     {"id":"evt_ok","type":"charge.succeeded"}',
    );

    const bad = await run(['show', 'stripe', 'evt_bad']);
    expect(bad.text).toContain(
      'status      failed: its job was dead-lettered (gatehouse dlq retry replays it)',
    );
    expect(bad.text).toMatch(/job \d+ {2}stripe\.event {2}dead {2}attempt 1 of 5/);
    expect(bad.text).toMatch(/#1 \S+ {2}PermanentJobError: unknown customer \(permanent\)/);

    const json = JSON.parse((await run(['show', 'stripe', 'evt_bad', '--json'])).text);
    expect(json).toMatchObject({ status: 'failed', jobs: [{ status: 'dead', attempts: 1 }] });
  });

  it('says when there is no such event, and explains a bad command line', async () => {
    expect(await run(['show', 'stripe', 'evt_missing'])).toMatchObject({
      code: 1,
      lines: ['no stripe event with key evt_missing'],
    });
    const badStatus = await run(['list', '--status', 'lost']);
    expect(badStatus.code).toBe(2);
    expect(badStatus.lines).toEqual([
      '--status must be one of accepted, rate_limited, processed, failed; got "lost"',
    ]);
    const noKey = await run(['show', 'stripe']);
    expect(noKey.code).toBe(2);
    expect(noKey.text).toMatch(/^usage: gatehouse events list/);
    expect((await run(['list', '--since', 'yesterday'])).code).toBe(2);
  });
});
