/**
 * `gatehouse webhooks list` and `gatehouse webhooks replay` against a real database: what
 * an operator reads, the exit codes, the replayed messages back to pending with a delivery
 * job each (and delivered by the job engine), and one audit row per replay batch naming
 * `cli:$USER`.
 *
 * As in cli-queue.test.ts, each command opens its own connection from DATABASE_URL; on the
 * embedded engine commands run one at a time and the test's own pool is idle meanwhile.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runWebhooksCommand, type WebhooksCommandOptions } from '../cli/webhooks-command.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createJobRegistry, createJobRunner } from '../functions/_shared/jobs/index.ts';
import { createSecretBox, outboundDelivery } from '../functions/_shared/outbound/index.ts';
import { createEndpoint, pauseEndpoint } from '../functions/_shared/outbound/endpoints.ts';
import { capturedLogger } from './support/logs.ts';
import { clientEnv } from './support/database.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { settledMessages } from './support/outbound-settled.ts';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.ts';

const projectRoot = join(import.meta.dirname, '..');
const database = useMigratedDatabase({
  reset: 'delete from webhook_endpoints; delete from outbound_events; delete from jobs; ' +
    'delete from dead_jobs; delete from circuit_breakers;',
});
const KEY = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
const config = parseConfig({ GATEHOUSE_ENCRYPTION_KEY: KEY });
const box = createSecretBox(config.outbound.encryptionKeys);

const receivers: WebhookReceiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
});

/** Runs the command as an operator would: its exit code and printed lines. */
async function run(args: string[], extra: Partial<WebhooksCommandOptions> = {}) {
  const lines: string[] = [];
  const pool = clientEnv(database.kind);
  const code = await runWebhooksCommand(args, {
    env: { DATABASE_URL: database.url, USER: 'ops-tester', GATEHOUSE_ENCRYPTION_KEY: KEY, ...pool },
    projectRoot,
    print: (line) => lines.push(...line.split('\n')),
    ...extra,
  });
  return { code, lines, text: lines.join('\n') };
}

/** An endpoint delivering to a new receiver. */
async function endpoint(eventTypes = ['*']) {
  const target = await startWebhookReceiver();
  receivers.push(target);
  const { endpoint, secret } = await createEndpoint(database.db, {
    url: target.url,
    eventTypes,
  }, box);
  target.secrets = [secret];
  return { target, id: endpoint.id as string };
}

const settled = (id: string, statuses: string[], hoursAgo = 0) =>
  settledMessages(database.db, id, statuses, hoursAgo);

const messageStates = (ids: number[]) =>
  database.db.query<{ id: string; status: string; attempts: number; jobs: number }>(
    `select m.id, m.status, m.attempts,
            (select count(*)::int from jobs j where j.kind = 'webhook.deliver'
                and (j.payload ->> 'message_id')::bigint = m.id) as jobs
       from outbound_messages m where m.id = any($1::bigint[]) order by m.id`,
    [ids],
  );

describe('gatehouse webhooks replay', () => {
  it('replays the failed messages of the range in audited batches, printing a line per batch', async () => {
    const { target, id } = await endpoint();
    const [old] = await settled(id, ['failed'], 3);
    const failed = await settled(id, ['failed', 'failed', 'failed', 'failed', 'failed']);
    const [succeeded] = await settled(id, ['succeeded']);

    const { code, lines } = await run(['replay', '--endpoint', id, '--since', '2h'], {
      batchSize: 2,
    });
    expect(code).toBe(0);
    const scope = /\(events since \d{4}-\d\d-\d\dT[\d:.]+Z, failed messages\)/;
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(new RegExp(`^replaying 5 message\\(s\\) of endpoint ${id} `));
    expect(lines[0]).toMatch(scope);
    expect(lines.slice(1, 4)).toEqual([
      'batch 1: replayed 2 (2 of 5)',
      'batch 2: replayed 2 (4 of 5)',
      'batch 3: replayed 1 (5 of 5)',
    ]);
    expect(lines[4]).toMatch(new RegExp(`^replayed 5 message\\(s\\) of endpoint ${id} `));
    expect(lines[4]).toMatch(scope);
    expect(lines[4]).toMatch(/; audited as cli:ops-tester$/);
    // The range's start is two hours back from the database's clock.
    const since = Date.parse(/events since (\S+),/.exec(lines[0]!)![1]!);
    expect(Math.abs(Date.now() - 2 * 3_600_000 - since)).toBeLessThan(60_000);

    expect(await messageStates(failed)).toEqual(
      failed.map((m) => ({ id: String(m), status: 'pending', attempts: 0, jobs: 1 })),
    );
    expect(await messageStates([old!, succeeded!])).toEqual([
      { id: String(old), status: 'failed', attempts: 8, jobs: 0 },
      { id: String(succeeded), status: 'succeeded', attempts: 8, jobs: 0 },
    ]);
    const audit = await database.db.query<{ actor: string; replayed: number }>(
      `select actor, (after ->> 'replayed')::int as replayed from audit_logs
        where action = 'webhook_endpoint.replay' and entity_id = $1 order by id`,
      [id],
    );
    expect(audit).toEqual([2, 2, 1].map((replayed) => ({ actor: 'cli:ops-tester', replayed })));

    // The job engine delivers them again.
    const runner = createJobRunner({
      config,
      db: database.db,
      logger: capturedLogger().logger,
      clock: systemClock,
      registry: createJobRegistry({
        retentionDays: 7,
        outbound: outboundDelivery({
          config: config.outbound,
          db: database.db,
          clock: systemClock,
        }),
      }),
    });
    const deadline = Date.now() + 15_000;
    while (target.received.length < 5 && Date.now() < deadline) {
      await runner.pass({ queues: ['webhooks'] });
    }
    expect(target.received.map((r) => r.data.n).sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('with --include-succeeded and --until, answers in JSON', async () => {
    const { id } = await endpoint();
    const recent = await settled(id, ['failed', 'succeeded'], 1);
    await settled(id, ['failed']);
    const until = new Date(Date.now() - 30 * 60_000).toISOString();
    const { code, text } = await run([
      'replay',
      '--endpoint',
      id,
      '--since',
      '2h',
      '--until',
      until,
      '--include-succeeded',
      '--json',
    ]);
    expect(code).toBe(0);
    expect(JSON.parse(text)).toMatchObject({
      endpoint: id,
      to: until,
      include_succeeded: true,
      counted: 2,
      replayed: 2,
      batches: 1,
      stopped: false,
      actor: 'cli:ops-tester',
    });
    expect((await messageStates(recent)).map((m) => m.status)).toEqual(['pending', 'pending']);
  });

  it('draws a progress bar on a terminal, and says when the endpoint holds what it replayed', async () => {
    const { id } = await endpoint();
    await settled(id, ['failed', 'failed', 'failed']);
    await pauseEndpoint(database.db, id, 'partner maintenance');
    let drawn = '';
    const { code, lines } = await run(['replay', '--endpoint', id, '--since', '1h'], {
      batchSize: 2,
      terminal: { write: (text) => void (drawn += text) },
    });
    expect(code).toBe(0);
    expect(drawn).toBe(
      `\r[${'#'.repeat(20)}${'-'.repeat(10)}] 66% 2/3\r[${'#'.repeat(30)}] 100% 3/3\n`,
    );
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^replayed 3 message\(s\) of endpoint /);
    expect(lines[2]).toBe('the endpoint is paused: its messages are held until it resumes');
  });

  it('replays nothing when nothing failed in the range', async () => {
    const { id } = await endpoint();
    await settled(id, ['succeeded']);
    await settled(id, ['failed'], 5);
    const { code, lines } = await run(['replay', '--endpoint', id, '--since', '2h']);
    expect(code).toBe(0);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^replaying 0 message\(s\)/);
    expect(lines[1]).toMatch(/^replayed 0 message\(s\)/);
  });

  it('refuses a wrong command line with a clear message and exit 2; an unknown endpoint is 1', async () => {
    const id = crypto.randomUUID();
    const cases: [string[], string][] = [
      [['replay', '--since', '2h'], '--endpoint is required'],
      [['replay', '--endpoint', 'abc', '--since', '2h'], '--endpoint must be an endpoint id'],
      [['replay', '--endpoint', id], '--since is required, e.g. --since 2h'],
      [['replay', '--endpoint', id, '--since', 'yesterday'], '--since must be a number and a unit'],
      [['replay', '--endpoint', id, '--since', '2h', '--until', 'today'], '--until must be'],
      [['replay', '--endpoint', id, '--since', '2h', '--until', '2026-12-07'], '--until must be'],
      [['replay', '--endpoint', id, '--since', '2h', '--force'], "Unknown option '--force'"],
      [
        ['replay', '--endpoint', id, '--since', '1h', '--until', '2000-01-01T00:00:00Z'],
        'must come after',
      ],
      [['list', '--status', 'broken'], '--status must be one of active, paused, disabled'],
      [['retry'], 'usage: gatehouse webhooks list'],
      [[], 'usage: gatehouse webhooks list'],
    ];
    for (const [args, message] of cases) {
      const { code, text } = await run(args);
      expect({ args, code }).toEqual({ args, code: 2 });
      expect(text).toContain(message);
    }
    const unknown = await run(['replay', '--endpoint', id, '--since', '2h']);
    expect(unknown).toMatchObject({ code: 1, lines: [`no webhook endpoint ${id}`] });
  });
});

describe('gatehouse webhooks list', () => {
  it('lists endpoints with their status and a health line', async () => {
    expect((await run(['list'])).lines).toEqual(['no webhook endpoints']);
    const quiet = await endpoint(['ride.*']);
    const busy = await endpoint(['*']);
    await pauseEndpoint(database.db, quiet.id, 'partner maintenance');
    const [message] = await settled(busy.id, ['failed']);
    await database.db.query(
      `insert into webhook_deliveries (message_id, endpoint_id, event_id, attempt, outcome,
                                       status_code, duration_ms, error)
       select m.id, m.endpoint_id, m.event_id, a.n, a.outcome, a.code, a.ms, a.error
         from outbound_messages m,
              (values (1, 'failed', 500, 10, 'HTTP 500'), (2, 'succeeded', 200, 20, null),
                      (3, 'succeeded', 200, 30, null)) as a (n, outcome, code, ms, error)
        where m.id = $1`,
      [message],
    );
    const { code, lines } = await run(['list']);
    expect(code).toBe(0);
    expect(lines.map((line) => line.split(/ {2,}/))).toEqual([
      ['id', 'status', 'url', 'events'],
      [busy.id, 'active', busy.target.url, '*'],
      [
        '',
        'health: 3 attempt(s) in 24 h, 67% succeeded, p50 20 ms, p99 30 ms; no backlog; ' +
        'breaker closed; last error: HTTP 500',
      ],
      [quiet.id, 'paused (partner maintenance)', quiet.target.url, 'ride.*'],
      // The event the busy one failed is held for the paused one.
      [
        '',
        expect.stringMatching(
          /^health: no attempts in 24 h; backlog 1 \(held 1; oldest (\d+ m?s|-)\); breaker closed$/,
        ),
      ],
      ['2 endpoint(s)'],
    ]);
    const paused = await run(['list', '--status', 'paused', '--json']);
    expect(JSON.parse(paused.text)).toEqual([expect.objectContaining({
      id: quiet.id,
      status: 'paused',
      health: expect.objectContaining({ attempts: 0, status: 'paused' }),
    })]);
    expect(paused.text).not.toContain('ciphertext');
  });
});
