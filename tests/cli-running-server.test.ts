/**
 * The CLI while `npm start` runs on the embedded database: PGlite cannot be opened twice,
 * so a command reaches the running server's database through the port it serves (the lock
 * file names it) instead of refusing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEventsCommand } from '../cli/events-command.ts';
import { runMigrateCommand } from '../cli/migrate-command.ts';
import { runDlqCommand } from '../cli/queue-command.ts';
import { type LocalServer, startLocalServer } from './support/local-server.ts';
import { projectRoot } from './support/process.ts';
import { signWhatsApp, whatsappNotification } from './support/webhooks/index.ts';

const APP_SECRET = 'running-server-app-secret';
let server: LocalServer;

beforeAll(async () => {
  // The embedded database, whatever TEST_DATABASE_URL says: that is the shared case.
  server = await startLocalServer({ DATABASE_URL: '', WHATSAPP_APP_SECRET: APP_SECRET });
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

async function cli(command: typeof runEventsCommand, args: string[]) {
  const lines: string[] = [];
  const code = await command(args, {
    env: { GATEHOUSE_DATA_DIR: server.dataDir },
    projectRoot,
    print: (line) => lines.push(...line.split('\n')),
  });
  return { code, lines };
}

const THROUGH_SERVER =
  /^the local server \(pid \d+\) has the embedded database open: using it through postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/;

describe('gatehouse commands while npm start runs', () => {
  it('serves the embedded database', () => {
    expect(server.gatehouse.output()).toContain('(embedded PGlite, data in');
  });

  it('lists the events the running server stored, through its database port', async () => {
    const wamid = `wamid.running.${crypto.randomUUID().slice(0, 8)}`;
    const body = whatsappNotification([{ id: wamid, from: '15550001111', text: 'hi' }]);
    const res = await fetch(`${server.base}/functions/v1/webhooks/whatsapp`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...signWhatsApp(body, APP_SECRET) },
    });
    expect(res.status).toBe(200);
    const listed = await cli(runEventsCommand, ['list', '--provider', 'whatsapp']);
    expect(listed.code).toBe(0);
    expect(listed.lines[0]).toMatch(THROUGH_SERVER);
    expect(listed.lines.some((line) => line.includes(wamid))).toBe(true);
  });

  it('answers migrate status and dlq list the same way, and the server keeps serving', async () => {
    const status = await cli(runMigrateCommand, ['status']);
    expect(status.lines[0]).toMatch(THROUGH_SERVER);
    expect(status.code).toBe(0);
    expect(status.lines.at(-1)).toMatch(/^\d+ migrations, all applied$/);
    const dlq = await cli(runDlqCommand, ['list']);
    expect(dlq).toEqual({
      code: 0,
      lines: [expect.stringMatching(THROUGH_SERVER), 'no dead jobs (dead within 7 days)'],
    });
    expect((await fetch(`${server.base}/functions/v1/health/ready`)).status).toBe(200);
  });
});
