/**
 * The reference app's USSD menu through the real route on a real database: the screens it
 * reads for the calling number (my rides, my payment code), navigation back and home, and
 * an answer that comes in time or ends the session politely.
 */
import { describe, expect, it } from 'vitest';
import { app as referenceApp } from '../functions/_app/index.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import type { Db } from '../functions/_shared/db/types.ts';
import { createWebhooksApp } from '../functions/webhooks/index.ts';
import { USSD_ANSWER_DEADLINE_MS } from '../functions/_shared/webhooks/ussd/index.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const database = useMigratedDatabase({
  reset: 'delete from rides; delete from qr_generations; delete from profiles;',
});

const TOKEN = 'ussd-app-token-0123456789';
const CALLER = '+254722000333';
const USER = 'aaaaaaaa-0000-4000-8000-0000000000c3';

function route(db: Db = database.db) {
  return createWebhooksApp({
    config: parseConfig({ USSD_PATH_TOKEN: TOKEN }),
    db,
    logger: capturedLogger().logger,
    clock: systemClock,
    fetch,
    background: () => {},
    app: referenceApp,
  });
}

async function dial(text: string, phoneNumber = CALLER, db?: Db) {
  const res = await route(db).request(`/webhooks/ussd/${TOKEN}`, {
    method: 'POST',
    body: new URLSearchParams({
      sessionId: 'ATUid_app',
      serviceCode: '*384*1234#',
      phoneNumber,
      networkCode: '63902',
      text,
    }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  expect(res.status).toBe(200);
  return await res.text();
}

async function anAccountWithRides() {
  await database.db.query(
    `insert into profiles (id, display_name, wa_phone, wa_verified_at) values ($1, 'Ada', $2, now())`,
    [USER, CALLER],
  );
  await database.db.query(
    `insert into rides (passenger_user_id, pickup, dropoff, status, created_at, payment_status)
     values ($1, 'Kencom', 'JKIA', 'completed', now() - interval '2 days', 'paid'),
            ($1, 'Westlands', 'Karen', 'requested', now(), 'unpaid')`,
    [USER],
  );
}

describe('the mobility USSD menu', () => {
  it("lists the caller's rides, newest first, and shows one", async () => {
    await anAccountWithRides();
    expect(await dial('2')).toBe(
      'CON My rides\n1. Westlands > Karen\n2. Kencom > JKIA\n0. Back  00. Home',
    );
    expect(await dial('2*2')).toBe('END Kencom > JKIA: completed, payment paid.');
  });

  it('goes back with 0 and home with 00', async () => {
    await anAccountWithRides();
    const main =
      'CON Gatehouse Mobility\n1. Request a ride\n2. My rides\n3. Pay with QR code\n0. Exit';
    expect(await dial('2*0')).toBe(main);
    expect(await dial('2*00')).toBe(main);
    expect(await dial('2*0*1')).toBe('CON Where should the driver pick you up?\n0. Back  00. Home');
  });

  it("shows the caller's payment code, or how to make one", async () => {
    await anAccountWithRides();
    expect(await dial('3')).toBe(
      'END You have no payment code yet. Create one in the app (Pay > New QR code).',
    );
    await database.db.query(
      `insert into qr_generations (user_id, payload) values ($1, '*384*77*500#')`,
      [USER],
    );
    expect(await dial('3')).toBe(
      'END Your payment code: *384*77*500#. Show its QR from the app to be paid.',
    );
  });

  it('tells a number with no proven account to start on WhatsApp', async () => {
    // A profile where a user typed the number is not proof that the caller owns it.
    await database.db.query(
      `insert into profiles (id, display_name, wa_phone) values ($1, 'Mallory', $2)`,
      [USER, CALLER],
    );
    expect(await dial('2')).toBe(
      'END No account uses this number yet. Send "hi" to us on WhatsApp to start.',
    );
  });

  it('ends the session politely when the database does not answer in time', async () => {
    // The screen's read hangs (a lock, a slow database); everything else answers.
    const stuck: Db = {
      ...database.db,
      query: (text, values, options) =>
        text.includes('public.profiles')
          ? new Promise(() => {})
          : database.db.query(text, values, options),
    };
    const started = Date.now();
    expect(await dial('2', CALLER, stuck)).toBe(
      'END The service is busy. Please try again in a moment.',
    );
    // At the deadline, give or take a second of scheduling on a busy machine (a session
    // left waiting on the read would not be answered at all).
    expect(Date.now() - started).toBeLessThan(USSD_ANSWER_DEADLINE_MS + 1_000);
  });
});
