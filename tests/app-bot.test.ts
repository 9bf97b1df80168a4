/**
 * The reference app's WhatsApp bot end to end on a real database: signed deliveries go in
 * through intake, the job engine runs the app's processor, and the answers reach a local
 * Graph API stub speaking Meta's protocol. The menu, list and button replies, the ride flow
 * from a shared location, vehicle registration by text and by a photo read with OCR,
 * switched-off flows, duplicates, and who a number belongs to.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeOcrEngine, READ_PLATE_JOB } from '../functions/_app/ocr/index.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createJobRunner } from '../functions/_shared/jobs/index.ts';
import { createWebhooksApp } from '../functions/webhooks/index.ts';
import { type GraphApiStub, startGraphApiStub } from '../cli/sandbox/graph-api.ts';
import { capturedLogger } from './support/logs.ts';
import { countingRoundTrips } from './support/round-trips.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { projectRoot } from './support/process.ts';
import { testRuntime } from './support/runtime.ts';
import { signWhatsApp, whatsappDelivery } from './support/webhooks/index.ts';

const database = useMigratedDatabase({
  reset: 'delete from whatsapp_conversations; delete from vehicle_ocr_jobs; delete from rides; ' +
    'delete from vehicles; delete from qr_generations; delete from profiles; ' +
    'delete from whatsapp_logs; delete from jobs; delete from dead_jobs; ' +
    'delete from inbound_events; delete from feature_flags where key like $$app.%$$; ' +
    'delete from circuit_breakers; delete from outbound_events;',
});

const APP_SECRET = 'bot-app-secret';
let graph: GraphApiStub;
beforeEach(async () => {
  graph = await startGraphApiStub();
});
afterEach(async () => {
  await graph.close();
});
afterAll(async () => {
  await closeOcrEngine();
});

function runtime() {
  return testRuntime({
    config: parseConfig({
      WHATSAPP_APP_SECRET: APP_SECRET,
      WHATSAPP_ACCESS_TOKEN: graph.token,
      WHATSAPP_PHONE_NUMBER_ID: 'PNID-BOT',
      WHATSAPP_GRAPH_URL: graph.url,
    }),
    db: database.db,
    logger: capturedLogger().logger,
    clock: systemClock,
  });
}

let serial = 0;
const ADA = '254700000001';

/** The plate photo of the fixtures, served by the Graph API stub as media `id`. */
async function platePhoto(id: string): Promise<void> {
  const bytes = new Uint8Array(
    await readFile(join(projectRoot, 'tests/fixtures/images/plate-kda-417q.jpg')),
  );
  graph.media.set(id, { bytes, mimeType: 'image/jpeg' });
}

/** One message from `from` as Meta delivers it, run by the job worker; returns its wamid. */
async function deliver(
  message: Record<string, unknown>,
  from = ADA,
  id = `wamid.IN${++serial}${crypto.randomUUID().slice(0, 6)}`,
) {
  const rt = await acked(message, from, id);
  await createJobRunner(rt).pass({ queues: ['whatsapp', 'app'] });
  return id;
}

/** One message from `from` acked by intake, its jobs not run yet; returns the runtime. */
async function acked(message: Record<string, unknown>, from: string, id: string) {
  const body = whatsappDelivery({
    phoneNumberId: 'PNID-BOT',
    contacts: [{ wa_id: from, profile: { name: 'Ada' } }],
    messages: [{ id, from, timestamp: String(Math.floor(Date.now() / 1000)), ...message }],
  });
  const rt = runtime();
  const res = await createWebhooksApp({ ...rt, background: () => {} }).request(
    '/webhooks/whatsapp',
    {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...signWhatsApp(body, APP_SECRET) },
    },
  );
  expect(res.status).toBe(200);
  return rt;
}

const text = (body: string) => ({ type: 'text', text: { body } });
const listReply = (id: string) => ({
  type: 'interactive',
  interactive: { type: 'list_reply', list_reply: { id, title: id } },
});
const buttonReply = (id: string) => ({
  type: 'interactive',
  interactive: { type: 'button_reply', button_reply: { id, title: id } },
});

/** The last message the bot sent, as Meta received it. */
function lastSent() {
  const sent = graph.sent.at(-1);
  if (!sent) throw new Error('the bot sent nothing');
  return sent.body as {
    to: string;
    context?: { message_id: string };
    type: string;
    text?: { body: string };
    interactive?: {
      type: string;
      body: { text: string };
      action: {
        sections?: { rows: { id: string }[] }[];
        buttons?: { reply: { id: string; title: string } }[];
      };
    };
  };
}

describe('the WhatsApp bot', () => {
  it('answers "hi" with the main menu as a list, threaded under the message', async () => {
    const wamid = await deliver(text('Hi!'));
    const menu = lastSent();
    expect(menu.to).toBe(ADA);
    expect(menu.context).toEqual({ message_id: wamid });
    expect(menu.interactive?.type).toBe('list');
    expect(menu.interactive?.body.text).toBe('Hi Ada! What would you like to do?');
    expect(menu.interactive?.action.sections?.flatMap((s) => s.rows.map((r) => r.id))).toEqual([
      'ride.schedule',
      'ride.mine',
      'vehicle.register',
      'pay.qr',
      'help',
    ]);
    // The sender has a profile with the number proven, and the reply is logged.
    const [profile] = await database.db.query<{ wa_phone: string; proven: boolean }>(
      `select wa_phone, wa_verified_at is not null as proven from profiles`,
    );
    expect(profile).toEqual({ wa_phone: `+${ADA}`, proven: true });
    const [log] = await database.db.query<{ status: string; message_type: string }>(
      `select status, message_type from whatsapp_logs where direction = 'outbound'`,
    );
    expect(log).toEqual({ status: 'accepted', message_type: 'list' });
  });

  it('answers "hi" in few round trips: statements that need no answer go out together', async () => {
    await deliver(text('hi')); // the profile exists; this "hi" is a returning user's
    const rt = await acked(text('hi'), ADA, `wamid.RT${++serial}`);
    const counted = countingRoundTrips(database.db);
    await createJobRunner({ ...rt, db: counted.db, jobsDb: counted.db }).pass({
      queues: ['whatsapp', 'app'],
    });
    expect(lastSent().interactive?.type).toBe('list');
    // After BEGIN, the message's job waits for: the event's load with its inbound log; the
    // sender's profile and conversation; the conversation's save with the reply's job; the
    // job's completion with the COMMIT. The reply's job: its outbound log; the completion
    // with the COMMIT.
    expect(counted.transactions).toEqual([4, 2]);
  });

  it('logs a photo’s ack and queues its reading in one round trip', async () => {
    await platePhoto('MEDIA-RT');
    const rt = await acked(
      { type: 'image', image: { id: 'MEDIA-RT', mime_type: 'image/jpeg' } },
      ADA,
      `wamid.RT${++serial}`,
    );
    const counted = countingRoundTrips(database.db);
    // The reading's queue left out: this pass runs the message's job and the ack's send.
    await createJobRunner({ ...rt, db: counted.db, jobsDb: counted.db }).pass({
      queues: ['whatsapp'],
    });
    expect(lastSent().text?.body).toBe('Got your photo. Reading the plate, one moment…');
    // The ack's send job (the second transaction): its outbound log with the reading's
    // job; the completion with the COMMIT.
    expect(counted.transactions).toHaveLength(2);
    expect(counted.transactions[1]).toBe(2);
    // The reading is queued, and waits: this pass left its queue out.
    expect(await database.db.query(`select kind, status from jobs where queue <> 'whatsapp'`))
      .toEqual([{ kind: READ_PLATE_JOB, status: 'pending' }]);
  });

  it('schedules a ride from a list reply, a shared location and a typed destination', async () => {
    await deliver(listReply('ride.schedule'));
    expect(lastSent().text?.body).toMatch(/^Where should we pick you up\?/);
    await deliver({
      type: 'location',
      location: { latitude: -1.2921, longitude: 36.8219, name: 'Kencom', address: 'Moi Avenue' },
    });
    expect(lastSent().text?.body).toBe(
      'Pickup: Kencom, Moi Avenue. And where to? Type the destination or share a location.',
    );
    await deliver(text('JKIA Terminal 1A'));
    const confirm = lastSent();
    expect(confirm.interactive?.type).toBe('button');
    expect(confirm.interactive?.body.text).toBe(
      'Ride requested: Kencom, Moi Avenue → JKIA Terminal 1A. We will tell you when a driver accepts.',
    );
    const [ride] = await database.db.query<{ id: string; pickup: string; status: string }>(
      `select r.id, r.pickup, r.status from rides r join profiles p on p.id = r.passenger_user_id
        where p.wa_phone = $1`,
      [`+${ADA}`],
    );
    expect(ride).toMatchObject({ pickup: 'Kencom, Moi Avenue', status: 'requested' });
    const buttons = confirm.interactive!.action.buttons!.map((b) => b.reply.id);
    expect(buttons).toEqual([`ride.cancel:${ride!.id}`, 'menu']);

    // My rides lists it; the cancel button cancels it, once.
    await deliver(listReply('ride.mine'));
    expect(lastSent().text?.body).toMatch(
      /^Your latest rides:\n• .* Kencom, Moi Avenue → JKIA Terminal 1A \(requested\)$/,
    );
    await deliver(buttonReply(`ride.cancel:${ride!.id}`));
    expect(lastSent().text?.body).toBe('Your ride is cancelled.');
    await deliver(buttonReply(`ride.cancel:${ride!.id}`));
    expect(lastSent().text?.body).toBe('That ride can no longer be cancelled.');
    // Partners subscribed to ride.* hear of both, in order for the ride.
    const events = await database.db.query<{ type: string; ordering_key: string; ride: string }>(
      `select type, ordering_key, payload ->> 'ride_id' as ride from outbound_events
        where type like 'ride.%' order by id`,
    );
    expect(events).toEqual([
      { type: 'ride.requested', ordering_key: `ride:${ride!.id}`, ride: ride!.id },
      { type: 'ride.cancelled', ordering_key: `ride:${ride!.id}`, ride: ride!.id },
    ]);
  });

  it('registers a vehicle from a typed plate, and asks again for one that is not', async () => {
    await deliver(listReply('vehicle.register'));
    await deliver(text('not a plate!!'));
    expect(lastSent().text?.body).toBe(
      'That does not look like a plate number. Try again, for example KAA 123A.',
    );
    await deliver(text('kcb  512x'));
    expect(lastSent().text?.body).toBe('Vehicle KCB 512X is registered. Send "menu" for more.');
    const vehicles = await database.db.query<{ plate: string }>('select plate from vehicles');
    expect(vehicles).toEqual([{ plate: 'KCB 512X' }]);
  });

  it('reads the plate on a photo with OCR, then registers it on a tap', async () => {
    await platePhoto('MEDIA-PLATE');
    const photo = await deliver({
      type: 'image',
      image: { id: 'MEDIA-PLATE', mime_type: 'image/jpeg' },
    });
    // The ack and the first answer come at once; the reading runs as its own job.
    const answers = graph.sent.map((s) => s.body as ReturnType<typeof lastSent>);
    expect(answers[0]!.text?.body).toBe('Got your photo. Reading the plate, one moment…');
    const read = answers[1]!;
    expect(read.context).toEqual({ message_id: photo });
    expect(read.interactive?.body.text).toMatch(
      /^I read the plate KDA 417Q \(confidence \d+ %\)\. Register it\?$/,
    );
    const [ocr] = await database.db.query<{ status: string; result: { plate: string } }>(
      'select status, result from vehicle_ocr_jobs',
    );
    expect(ocr).toMatchObject({ status: 'done', result: { plate: 'KDA 417Q' } });
    await deliver(buttonReply('vehicle.add:KDA 417Q'));
    expect(lastSent().text?.body).toBe('Vehicle KDA 417Q is registered. Send "menu" for more.');
  }, 60_000);

  it(
    'reads the photo only once "Got your photo" is out, so the plate never comes first',
    async () => {
      await platePhoto('MEDIA-LATE');
      // Meta turns the ack away for now: its send waits a minute for its retry.
      graph.failNext.push({ status: 429, code: 130429, retryAfter: '60' });
      const photo = await deliver({
        type: 'image',
        image: { id: 'MEDIA-LATE', mime_type: 'image/jpeg' },
      });
      expect(graph.sent).toEqual([]);
      // Nothing reads the photo meanwhile: its answer would reach the user before the ack.
      expect(await database.db.query('select status from vehicle_ocr_jobs')).toEqual([
        { status: 'pending' },
      ]);
      expect(
        await database.db.query(`select id from jobs where kind = 'app.read_plate'`),
      ).toEqual([]);
      expect(graph.requests.filter((path) => path.includes('MEDIA-LATE'))).toEqual([]);

      // The retry comes due: the ack goes out, then the plate is read and answered.
      await database.db.query(
        `update jobs set run_at = now() where kind = 'whatsapp.send' and status = 'pending'`,
      );
      await createJobRunner(runtime()).pass({ queues: ['whatsapp', 'app'] });
      const answers = graph.sent.map((s) => s.body as ReturnType<typeof lastSent>);
      expect(answers.map((a) => a.text?.body ?? a.interactive?.body.text)).toEqual([
        'Got your photo. Reading the plate, one moment…',
        expect.stringMatching(/^I read the plate KDA 417Q \(confidence \d+ %\)\. Register it\?$/),
      ]);
      expect(answers.map((a) => a.context)).toEqual([
        { message_id: photo },
        { message_id: photo },
      ]);
      expect(await database.db.query('select status from vehicle_ocr_jobs')).toEqual([
        { status: 'done' },
      ]);
    },
    60_000,
  );

  it(
    'reads nothing behind an ack Meta refused for good until it is replayed and sent',
    async () => {
      await platePhoto('MEDIA-DEAD');
      graph.failNext.push({ status: 400, code: 131047 });
      const photo = await deliver({
        type: 'image',
        image: { id: 'MEDIA-DEAD', mime_type: 'image/jpeg' },
      });
      expect(graph.sent).toEqual([]);
      const dead = await database.db.query<{ id: string; kind: string }>(
        'select id::text as id, kind from dead_jobs',
      );
      expect(dead.map((job) => job.kind)).toEqual(['whatsapp.send']);
      expect(
        await database.db.query(`select id from jobs where kind = 'app.read_plate'`),
      ).toEqual([]);

      // An operator replays the dead send: the ack goes out, and the photo is read after it.
      await database.db.query(
        `select public.replay_dead_jobs(interval '1 hour', null, null, array[$1::bigint], 'test')`,
        [dead[0]!.id],
      );
      await createJobRunner(runtime()).pass({ queues: ['whatsapp', 'app'] });
      const answers = graph.sent.map((s) => s.body as ReturnType<typeof lastSent>);
      expect(answers.map((a) => [a.context?.message_id, a.text?.body ?? a.interactive?.body.text]))
        .toEqual([
          [photo, 'Got your photo. Reading the plate, one moment…'],
          [photo, expect.stringMatching(/^I read the plate KDA 417Q/)],
        ]);
    },
    60_000,
  );

  it('answers politely when a flow is switched off, and helps with what it does not know', async () => {
    await database.db.query(
      `insert into feature_flags (key, enabled) values ('app.rides', false)
       on conflict (key) do update set enabled = false`,
    );
    await deliver(listReply('ride.schedule'));
    expect(lastSent().text?.body).toBe(
      'Ride booking is paused at the moment. Please try again a little later.',
    );
    await deliver({ type: 'sticker', sticker: { id: 'S1' } });
    expect(lastSent().text?.body).toMatch(/^I can schedule a ride/);
    expect(await database.db.query('select id from rides')).toEqual([]);
  });

  it('never answers a duplicated delivery twice', async () => {
    const id = await deliver(text('menu'));
    await deliver(text('menu'), ADA, id);
    expect(graph.sent).toHaveLength(1);
  });

  it('leaves a message it cannot answer processed, not dead-lettered', async () => {
    const id = await deliver(text('hi'), '1555');
    expect(graph.sent).toEqual([]);
    const [event] = await database.db.query<{ status: string }>(
      'select status from inbound_events where event_key = $1',
      [id],
    );
    expect(event).toEqual({ status: 'processed' });
    expect(await database.db.query('select id from dead_jobs')).toEqual([]);
  });

  it("does not hand a user's account to whoever messages from a number they typed", async () => {
    // A user of the app typed this number into their profile: it is not proven.
    await database.db.query(
      `insert into profiles (id, display_name, wa_phone)
       values ('aaaaaaaa-0000-4000-8000-00000000000a', 'Mallory', $1)`,
      [`+${ADA}`],
    );
    await deliver(listReply('ride.schedule'));
    await deliver(text('Kencom'));
    await deliver(text('Westlands'));
    const rides = await database.db.query<{ passenger: string }>(
      `select p.display_name as passenger from rides r join profiles p on p.id = r.passenger_user_id`,
    );
    expect(rides).toEqual([{ passenger: 'Ada' }]);
  });
});
