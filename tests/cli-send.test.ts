/**
 * `gatehouse send`: a signed sample delivery to the running server (`npm start`), with the
 * secrets the server generated for development, then the event followed to its end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSendCommand } from '../cli/send-command.ts';
import { type LocalServer, startLocalServer } from './support/local-server.ts';
import { projectRoot } from './support/process.ts';

const GITHUB_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
let server: LocalServer;

beforeAll(async () => {
  server = await startLocalServer({ WEBHOOK_SECRET_GITHUB: GITHUB_SECRET });
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

async function send(args: string[], env: Record<string, string> = {}) {
  const lines: string[] = [];
  const code = await runSendCommand(args, {
    env: {
      PORT: new URL(server.base).port,
      GATEHOUSE_DATA_DIR: server.dataDir,
      WEBHOOK_SECRET_GITHUB: GITHUB_SECRET,
      ...(server.database ? { DATABASE_URL: server.database.url } : {}),
      ...env,
    },
    projectRoot,
    print: (line) => lines.push(...line.split('\n')),
  });
  return { code, lines, text: lines.join('\n') };
}

describe('gatehouse send', () => {
  it.each([
    ['whatsapp', ['whatsapp'], '/webhooks/whatsapp', /^event whatsapp wamid\.send\.\w+$/],
    ['stripe', ['stripe'], '/webhooks/stripe', /^event stripe evt_send_\w+$/],
    [
      'a Standard Webhooks source',
      ['standard', 'github'],
      '/webhooks/standard/github',
      /^event standard:github msg_send_\w+$/,
    ],
  ])(
    'posts a signed %s delivery and follows its event to the end',
    async (_, args, path, event) => {
      const sent = await send(args);
      expect(sent.lines[0]).toBe(`-> POST ${server.base}/functions/v1${path}`);
      expect(sent.lines[1]).toMatch(/^<- 200 \{"status":"accepted"\} {2}\(request id \S+\)$/);
      expect(sent.lines).toContainEqual(expect.stringMatching(event));
      expect(sent.text).toContain('status      processed: its job completed');
      expect(sent.code).toBe(0);
    },
  );

  it('shows the first USSD screen, never the path token', async () => {
    const sent = await send(['ussd']);
    expect(sent.lines[0]).toBe(
      `-> POST ${server.base}/functions/v1/webhooks/ussd/<USSD_PATH_TOKEN>`,
    );
    expect(sent.lines.slice(1).join('\n')).toMatch(
      /^<- 200 CON Gatehouse Mobility\n1\. Request a ride\n2\. My rides\n3\. Pay with QR code\n0\. Exit {2}\(request id \S+\)$/,
    );
    const token = /USSD_PATH_TOKEN=(\S+)/.exec(server.gatehouse.output())![1]!;
    expect(sent.text).not.toContain(token);
    expect(sent.code).toBe(0);
  });

  it('says which secret is missing, or that no server answers', async () => {
    expect(await send(['standard', 'billing'])).toMatchObject({
      code: 2,
      lines: ['WEBHOOK_SECRET_BILLING is not set: the server refuses billing deliveries'],
    });
    expect((await send(['fax'])).code).toBe(2);
    const nobody = await send(['stripe', '--url', 'http://127.0.0.1:9']);
    expect(nobody.code).toBe(1);
    expect(nobody.lines.at(-1)).toMatch(
      /^cannot reach http:\/\/127\.0\.0\.1:9: .*; is the server running \(npm start\)\?$/,
    );
  });
});
