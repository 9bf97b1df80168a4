/**
 * `gatehouse queue health`, `gatehouse dlq list|show|retry` and `gatehouse worker --once`
 * against a real database, asserting what an operator reads and the exit codes.
 *
 * Each command opens its own connection from DATABASE_URL; on the embedded engine every
 * connection shares one session, so commands run one at a time and the test's own pool
 * is idle while one runs.
 */
import { getEventListeners } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  parseSince,
  runDlqCommand,
  runQueueCommand,
  runWorkerCommand,
} from '../cli/queue-command.ts';
import { claimJobs, enqueueJobs, failJob } from '../functions/_shared/queue/index.ts';
import { clientEnv } from './support/database.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const projectRoot = join(import.meta.dirname, '..');

const database = useMigratedDatabase({
  reset: 'delete from jobs; delete from dead_jobs; delete from inbound_events;',
});

type Command = typeof runQueueCommand;

/** Runs a command as an operator would, returning its exit code and printed lines. */
async function run(
  command: Command,
  args: string[],
  env: Record<string, string> = {},
  signal?: AbortSignal,
  lines: string[] = [],
) {
  // The embedded engine serves one session: a pool of one, as its own server uses.
  const pool = clientEnv(database.kind);
  const code = await command(args, {
    env: { DATABASE_URL: database.url, USER: 'ops-tester', ...pool, ...env },
    projectRoot,
    print: (line) => lines.push(...line.split('\n')),
    signal,
  });
  return { code, lines, text: lines.join('\n') };
}

/** Polls `check` until it holds; fails with `what` after `timeoutMs`. */
async function eventually(check: () => boolean, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A table's lines split into cells (columns are separated by two or more spaces). */
function cells(lines: string[]): string[][] {
  return lines.map((line) => line.split(/ {2,}/));
}

/** A job that failed once per error and ended in the dead letters; returns its id. */
async function bury(queue: string, kind: string, errors: string[], permanent = false) {
  const [id] = await enqueueJobs(database.db, [{
    queue,
    kind,
    payload: { order: `${queue}-${errors.length}` },
    maxAttempts: errors.length,
    requestId: `req-${queue}`,
  }]);
  for (const [i, error] of errors.entries()) {
    const [job] = await claimJobs(database.db, {
      worker: 'worker-test',
      limit: 1,
      leaseSeconds: 60,
      queues: [queue],
    });
    expect(job!.id).toBe(id);
    const outcome = await failJob(database.db, {
      id: id!,
      worker: 'worker-test',
      error,
      retryInMs: 0,
      permanent: permanent && i === errors.length - 1,
      maxAttempts: null,
    });
    expect(outcome).toBe(i === errors.length - 1 ? 'dead' : 'retried');
  }
  return id!;
}

describe('parseSince', () => {
  it('turns 30s, 30m, 1h, 7d and 2w into intervals', () => {
    expect(['30s', '30m', '1h', '2h', '7d', '1w', ' 2w '].map(parseSince)).toEqual([
      '30 seconds',
      '30 minutes',
      '1 hour',
      '2 hours',
      '7 days',
      '1 week',
      '2 weeks',
    ]);
  });

  it('refuses to reach back more than 100 years', () => {
    expect(parseSince('5200w')).toBe('5200 weeks');
    expect(() => parseSince('999999w')).toThrow(
      '--since reaches back at most 100 years; got "999999w"',
    );
  });

  it('refuses anything else with a message naming the accepted form', () => {
    for (const bad of ['1x', 'h', '1', '-1h', '1.5h', '1 h', '1hour', '', '1234567d']) {
      expect(() => parseSince(bad)).toThrow(/--since must be a number and a unit .*like 30m or 1h/);
    }
  });
});

describe('gatehouse queue health', () => {
  it('says there are no jobs, with the thresholds, and exits 0', async () => {
    const { code, lines } = await run(runQueueCommand, ['health']);
    expect(lines).toEqual([
      'no jobs in any queue',
      'queue health: ok (depth warning at 1000, critical at 2000); 0 due, 0 running, 0 dead',
    ]);
    expect(code).toBe(0);
  });

  it('prints a row per queue and exits 1 when a queue is at its critical depth', async () => {
    await enqueueJobs(database.db, [
      { queue: 'stripe', kind: 'stripe.event' },
      { queue: 'stripe', kind: 'stripe.event' },
      { queue: 'stripe', kind: 'stripe.event' },
      { queue: 'stripe', kind: 'stripe.event', runAt: new Date(Date.now() + 3_600_000) },
    ]);
    // The oldest due job has waited five minutes.
    await database.db.exec(`
      update jobs set run_at = now() - interval '5 minutes'
       where id = (select min(id) from jobs where queue = 'stripe')`);
    await bury('whatsapp', 'whatsapp.message', ['Error: upstream said 500']);
    const env = { GATEHOUSE_QUEUE_DEPTH_WARNING: '2', GATEHOUSE_QUEUE_DEPTH_CRITICAL: '3' };

    const { code, lines } = await run(runQueueCommand, ['health'], env);
    expect(cells(lines.slice(0, 3))).toEqual([
      ['queue', 'depth', 'scheduled', 'running', 'dead', 'oldest due', 'level'],
      ['stripe', '3', '1', '0', '0', '5 min', 'critical'],
      ['whatsapp', '0', '0', '0', '1', '-', 'ok'],
    ]);
    expect(lines.slice(3)).toEqual([
      'queue health: critical (depth warning at 2, critical at 3); 3 due, 0 running, 1 dead',
    ]);
    expect(code).toBe(1);

    const warning = await run(runQueueCommand, ['health'], {
      ...env,
      GATEHOUSE_QUEUE_DEPTH_CRITICAL: '10',
    });
    expect(warning.lines.at(-1)).toMatch(
      /^queue health: warning \(depth warning at 2, critical at 10\)/,
    );
    expect(warning.code).toBe(0);

    const json = await run(runQueueCommand, ['health', '--json'], env);
    expect(JSON.parse(json.text)).toMatchObject({
      level: 'critical',
      totals: { depth: 3, scheduled: 1, running: 0, dead: 1 },
      queues: [{ queue: 'stripe', level: 'critical' }, { queue: 'whatsapp', level: 'ok' }],
    });
    expect(json.code).toBe(1);
  });

  it('answers a wrong subcommand or option with usage and exit 2', async () => {
    for (const args of [[], ['depth'], ['health', '--verbose']]) {
      const { code, text } = await run(runQueueCommand, args);
      expect({ args, code }).toEqual({ args, code: 2 });
      expect(text).toContain('usage: gatehouse queue health [--json]');
    }
    expect((await run(runQueueCommand, ['health', '--verbose'])).text).toContain(
      "Unknown option '--verbose'",
    );
  });
});

describe('gatehouse dlq', () => {
  it('lists nothing with the filter it used', async () => {
    const { code, lines } = await run(runDlqCommand, ['list']);
    expect(lines).toEqual(['no dead jobs (dead within 7 days)']);
    expect(code).toBe(0);
  });

  it('lists, shows and replays dead jobs, auditing each replay', async () => {
    const stripe = await bury('stripe', 'stripe.event', [
      'Error: connect ETIMEDOUT',
      'Error: upstream said 502',
    ]);
    const whatsapp = await bury('whatsapp', 'whatsapp.message', [
      'PermanentJobError: no such contact',
    ], true);
    const oldStripe = await bury('stripe', 'stripe.event', ['Error: gone']);
    const threeHoursAgo = `update dead_jobs set dead_at = now() - interval '3 hours' where id = $1`;
    await database.db.query(threeHoursAgo, [oldStripe]);

    const list = await run(runDlqCommand, ['list']);
    expect(list.code).toBe(0);
    const table = cells(list.lines.slice(0, -1));
    expect(table[0]).toEqual(['id', 'queue', 'kind', 'attempts', 'dead at', 'last error']);
    // Newest first; the one that died three hours ago last.
    expect(
      table.slice(1).map(([id, queue, kind, tries, deadAt, error]) => ({
        id: Number(id),
        queue,
        kind,
        tries,
        deadAt: Number.isNaN(Date.parse(deadAt!)) ? deadAt : 'iso',
        error,
      })),
    ).toEqual([
      {
        id: whatsapp,
        queue: 'whatsapp',
        kind: 'whatsapp.message',
        tries: '1/1',
        deadAt: 'iso',
        error: 'PermanentJobError: no such contact',
      },
      {
        id: stripe,
        queue: 'stripe',
        kind: 'stripe.event',
        tries: '2/2',
        deadAt: 'iso',
        error: 'Error: upstream said 502',
      },
      {
        id: oldStripe,
        queue: 'stripe',
        kind: 'stripe.event',
        tries: '1/1',
        deadAt: 'iso',
        error: 'Error: gone',
      },
    ]);
    expect(list.lines.at(-1)).toBe('3 dead job(s) (dead within 7 days)');

    const recentStripe = await run(runDlqCommand, [
      'list',
      '--since',
      '1h',
      '--provider',
      'stripe',
    ]);
    expect(cells(recentStripe.lines).slice(1, -1).map((row) => Number(row[0]))).toEqual([stripe]);
    expect(recentStripe.lines.at(-1)).toBe('1 dead job(s) (dead within 1 hour, provider stripe)');

    const show = await run(runDlqCommand, ['show', String(stripe)]);
    expect(show.code).toBe(0);
    expect(show.lines.slice(0, 4)).toEqual([
      `dead job ${stripe}`,
      '  queue       stripe',
      '  kind        stripe.event',
      '  attempts    2 of 2',
    ]);
    expect(show.lines).toContain('  request id  req-stripe');
    expect(show.lines).toContain('  payload     {"order":"stripe-2"}');
    const history = show.lines.slice(show.lines.indexOf('  errors:') + 1);
    expect(history.map((line) => line.replace(/ \S+ {2}/, ' <at>  '))).toEqual([
      '    #1 <at>  Error: connect ETIMEDOUT',
      '    #2 <at>  Error: upstream said 502',
    ]);
    const permanent = await run(runDlqCommand, ['show', String(whatsapp)]);
    expect(permanent.lines.at(-1)).toMatch(
      /#1 \S+ {2}PermanentJobError: no such contact \(permanent\)$/,
    );

    const retry = await run(runDlqCommand, ['retry', '--since', '1h', '--provider', 'stripe']);
    expect(retry.lines).toEqual([
      'replayed 1 dead job(s) (dead within 1 hour, provider stripe); audited as cli:ops-tester',
    ]);
    expect(retry.code).toBe(0);

    expect(
      await database.db.query('select id, status, attempts from jobs order by id'),
    ).toEqual([{ id: String(stripe), status: 'pending', attempts: 0 }]);
    expect(
      (await database.db.query<{ id: string }>('select id from dead_jobs order by id')).map((r) =>
        Number(r.id)
      ),
    ).toEqual([whatsapp, oldStripe]);
    expect(
      await database.db.query(
        `select actor, action, entity_type, before ->> 'status' as before, after ->> 'status' as after,
                context ->> 'provider' as provider
           from audit_logs where entity_id = $1`,
        [String(stripe)],
      ),
    ).toEqual([{
      actor: 'cli:ops-tester',
      action: 'job.replay',
      entity_type: 'job',
      before: 'dead',
      after: 'pending',
      provider: 'stripe',
    }]);

    const nothingLeft = await run(runDlqCommand, [
      'retry',
      '--since',
      '1h',
      '--provider',
      'stripe',
    ]);
    expect(nothingLeft.lines[0]).toMatch(/^replayed 0 dead job\(s\)/);
  });

  it('says when a dead job does not exist', async () => {
    const { code, lines } = await run(runDlqCommand, ['show', '424242']);
    expect(lines).toEqual(['no dead job with id 424242']);
    expect(code).toBe(1);
  });

  it('answers usage mistakes with a clear message and exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['list', '--since', '1x'],
        /--since must be a number and a unit \(s, m, h, d, w\), like 30m or 1h; got "1x"/,
      ],
      [['retry'], /--since is required, e.g. --since 1h/],
      [['retry', '--since', '999999w'], /--since reaches back at most 100 years/],
      [['retry', '--since', '1h', '--id', 'abc'], /--id must be a job id \(a number\); got "abc"/],
      [['list', '--limit', '0'], /--limit must be a whole number from 1 to 10000/],
      [['list', '--verbose'], /--verbose/],
      [['show'], /usage: gatehouse dlq show <id>/],
      [['purge'], /usage: gatehouse dlq list .*\n.*dlq show <id>.*\n.*dlq retry --since 1h/],
      [[], /usage: gatehouse dlq list/],
    ];
    for (const [args, message] of cases) {
      const { code, text } = await run(runDlqCommand, args);
      expect({ args, code, text }).toEqual({ args, code: 2, text: expect.stringMatching(message) });
    }
  });
});

describe('gatehouse worker --once', () => {
  it('runs the due jobs once and prints the report', async () => {
    const [event] = await database.db.query<{ outcome: string; event_id: string }>(
      `select * from ingest_events('stripe', $1::jsonb, '{}')`,
      [[{ slot: 0, key: 'evt_cli', type: 'charge.succeeded', kind: 'stripe.event', payload: {} }]],
    );
    expect(event!.outcome).toBe('accepted');

    const { code, lines } = await run(runWorkerCommand, ['--once']);
    expect(code).toBe(0);
    // The intake job, and the hourly retention job and this minute's alert evaluation the
    // pass schedules.
    expect(JSON.parse(lines.at(-1)!)).toEqual({
      claimed: 3,
      completed: 3,
      retried: 0,
      dead: 0,
      slow: 0,
      lost: 0,
    });
    expect(
      await database.db.query('select status from inbound_events where id = $1', [event!.event_id]),
    ).toEqual([{ status: 'processed' }]);
  });

  it('without --once polls until stopped, holding nothing per pass', async () => {
    await database.db.query(
      `select * from ingest_events('stripe', $1::jsonb, '{}')`,
      [[
        { slot: 0, key: 'evt_now', type: 't', kind: 'stripe.event', payload: {} },
        { slot: 1, key: 'evt_later', type: 't', kind: 'stripe.event', payload: {} },
      ]],
    );
    // The second event's job is due a little later, so a later pass runs it.
    await database.db.exec(`
      update jobs set run_at = now() + interval '600 milliseconds'
       where dedupe_key = 'inbound:stripe:evt_later'`);
    const logged: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((line) => logged.push(String(line)));
    const controller = new AbortController();
    const lines: string[] = [];
    try {
      const running = run(
        runWorkerCommand,
        [],
        {
          GATEHOUSE_SCHEDULER_INTERVAL_MS: '100',
        },
        controller.signal,
        lines,
      );
      // Both events' jobs, run by two passes (passes also run the platform's own jobs).
      const stripeJobsDone = () =>
        logged.filter((line) => {
          const entry = JSON.parse(line);
          return entry.msg === 'job completed' && entry.job_kind === 'stripe.event';
        }).length;
      await eventually(() => stripeJobsDone() >= 2, 'both events processed');
      // A worker runs for days: passes must not pile listeners on the stop signal (at most
      // the current sleep's and a running job's are there).
      expect(getEventListeners(controller.signal, 'abort').length).toBeLessThanOrEqual(2);
      controller.abort();
      expect((await running).code).toBe(0);
    } finally {
      controller.abort();
      spy.mockRestore();
    }
    expect(lines[0]).toMatch(/^worker worker-\w+ polling every 100 ms; Ctrl-C stops it$/);
    expect(lines.at(-1)).toBe('worker stopped');
    expect(
      await database.db.query(
        `select count(*)::int as n from inbound_events where status = 'processed'`,
      ),
    ).toEqual([{ n: 2 }]);
  });

  it('refuses an unknown option with usage and exit 2', async () => {
    const { code, text } = await run(runWorkerCommand, ['--forever']);
    expect(code).toBe(2);
    expect(text).toContain('usage: gatehouse worker [--once]');
  });
});
