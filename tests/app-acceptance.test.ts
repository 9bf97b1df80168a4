/**
 * The reference app's acceptance list against the running local server (`gatehouse start`,
 * what `npm start` runs), its WhatsApp replies going to a local Graph API stub that speaks
 * Meta's protocol: the verification handshake, "hi" answered with the menu within 3 s,
 * list and button replies, a photo acked at once and its plate read by OCR, a duplicate
 * delivery answered once, and every health endpoint. (Row-level security across users on
 * every app table: tests/rls-matrix.test.ts.)
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWhatsApp, whatsappDelivery } from './support/webhooks/index.ts';
import { type GraphApiStub, startGraphApiStub } from '../cli/sandbox/graph-api.ts';
import { type LocalServer, startLocalServer } from './support/local-server.ts';
import { projectRoot } from './support/process.ts';

const APP_SECRET = 'acceptance-app-secret';
const VERIFY_TOKEN = 'acceptance-verify-token';
const USER = '254733000444';

let graph: GraphApiStub;
let server: LocalServer;

beforeAll(async () => {
  graph = await startGraphApiStub();
  server = await startLocalServer({
    WHATSAPP_APP_SECRET: APP_SECRET,
    WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
    WHATSAPP_ACCESS_TOKEN: graph.token,
    WHATSAPP_PHONE_NUMBER_ID: 'PNID-ACCEPT',
    WHATSAPP_GRAPH_URL: graph.url,
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await graph?.close();
});

let serial = 0;

/** Meta delivers one message from USER; resolves to its wamid and the answer. */
async function deliver(message: Record<string, unknown>, id?: string) {
  const wamid = id ?? `wamid.ACC${++serial}${crypto.randomUUID().slice(0, 6)}`;
  const body = whatsappDelivery({
    phoneNumberId: 'PNID-ACCEPT',
    contacts: [{ wa_id: USER, profile: { name: 'Wanjiru' } }],
    messages: [{
      id: wamid,
      from: USER,
      timestamp: String(Math.floor(Date.now() / 1000)),
      ...message,
    }],
  });
  const res = await fetch(`${server.base}/functions/v1/webhooks/whatsapp`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...signWhatsApp(body, APP_SECRET) },
  });
  return { wamid, status: res.status, answer: await res.json() as { status: string } };
}

type Sent = {
  context?: { message_id: string };
  type: string;
  text?: { body: string };
  interactive?: { type: string; body: { text: string } };
};

/** The replies threaded under `wamid`, once there are `count` (polled up to `withinMs`). */
async function repliesTo(wamid: string, count = 1, withinMs = 3_000): Promise<Sent[]> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const replies = graph.sent.map((s) => s.body as Sent).filter((s) =>
      s.context?.message_id === wamid
    );
    if (replies.length >= count) return replies;
    if (Date.now() > deadline) {
      throw new Error(`${replies.length} of ${count} replies to ${wamid} within ${withinMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the reference app on the running local server', () => {
  it('answers the webhook verification handshake', async () => {
    const ok = await fetch(
      `${server.base}/functions/v1/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=4242`,
    );
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('4242');
    const wrong = await fetch(
      `${server.base}/functions/v1/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1`,
    );
    expect(wrong.status).toBe(403);
  });

  it('answers "hi" with the main menu within 3 s', async () => {
    const started = Date.now();
    const hi = await deliver({ type: 'text', text: { body: 'hi' } });
    expect(hi).toMatchObject({ status: 200, answer: { status: 'accepted' } });
    const [menu] = await repliesTo(hi.wamid, 1, 3_000);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(menu!.interactive).toMatchObject({
      type: 'list',
      body: { text: 'Hi Wanjiru! What would you like to do?' },
    });
  });

  it('routes list and button replies into their flows', async () => {
    const schedule = await deliver({
      type: 'interactive',
      interactive: { type: 'list_reply', list_reply: { id: 'ride.schedule', title: 'Schedule' } },
    });
    expect((await repliesTo(schedule.wamid))[0]!.text?.body).toMatch(/^Where should we pick/);
    const back = await deliver({
      type: 'interactive',
      interactive: { type: 'button_reply', button_reply: { id: 'menu', title: 'Menu' } },
    });
    expect((await repliesTo(back.wamid))[0]!.interactive?.type).toBe('list');
  });

  it('acks a photo at once, then reads its plate and says so', async () => {
    const bytes = new Uint8Array(
      await readFile(join(projectRoot, 'tests/fixtures/images/plate-kda-417q.jpg')),
    );
    graph.media.set('MEDIA-ACCEPT', { bytes, mimeType: 'image/jpeg' });
    const started = Date.now();
    const photo = await deliver({
      type: 'image',
      image: { id: 'MEDIA-ACCEPT', mime_type: 'image/jpeg' },
    });
    expect(photo.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1_000);
    // Two replies: the ack and the result. Each is its own send job, so under load the
    // result's may reach the Graph API first; what the user gets is both.
    const replies = await repliesTo(photo.wamid, 2, 60_000);
    expect(replies.map((reply) => reply.text?.body).filter(Boolean)).toEqual([
      'Got your photo. Reading the plate, one moment…',
    ]);
    expect(replies.map((reply) => reply.interactive?.body.text).filter(Boolean)).toEqual([
      expect.stringMatching(/^I read the plate KDA 417Q/),
    ]);
  }, 90_000);

  it('answers a duplicated delivery once', async () => {
    const first = await deliver({ type: 'text', text: { body: 'menu' } });
    const again = await deliver({ type: 'text', text: { body: 'menu' } }, first.wamid);
    expect(again.answer).toEqual({ status: 'duplicate' });
    // A later message's reply marks the point by which a second reply would have come.
    const later = await deliver({ type: 'text', text: { body: 'help' } });
    await repliesTo(later.wamid);
    expect(await repliesTo(first.wamid)).toHaveLength(1);
  });

  it('answers every health endpoint', async () => {
    for (const path of ['/health/live', '/health/ready', '/health']) {
      const res = await fetch(`${server.base}/functions/v1${path}`);
      expect(res.status, path).toBe(200);
    }
  });
});
