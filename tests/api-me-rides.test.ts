/**
 * The rest of the user API: `/me` and the profile, `/flags`, `/rides` (a passenger's and
 * a driver's view of one ride), the OpenAPI document and docs page, and what every route
 * answers without a token or without sign-in configured.
 */
import { describe, expect, it } from 'vitest';
import { createApiApp } from '../functions/api/index.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { capturedLogger } from './support/logs.ts';
import { send, useApi } from './support/api.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { problemOf } from './support/test-app.ts';

const database = useMigratedDatabase();
const api = useApi(database);
const PASSENGER = '6d7e8f9a-0b1c-4d3e-8f4a-5b6c7d8e9f0a';
const DRIVER = '7e8f9a0b-1c2d-4e4f-9a5b-6c7d8e9f0a1b';
const STRANGER = '8f9a0b1c-2d3e-4f5a-8b6c-7d8e9f0a1b2c';

/** A ride request as the PWA sends it: POST /rides with its Idempotency-Key. */
const requestRide = (user: string, body: Record<string, unknown>) =>
  api.call(user, '/rides', send('POST', body, { 'idempotency-key': crypto.randomUUID() }));

describe('/api/me', () => {
  it('tells who the caller is, with no profile until one is written', async () => {
    const res = await api.call(PASSENGER, '/me');
    expect(await res.json()).toEqual({
      id: PASSENGER,
      email: 'ada@example.com',
      role: 'user',
      profile: null,
    });
  });

  it('creates the profile on the first write and locks later changes', async () => {
    const first = await api.call(
      PASSENGER,
      '/me/profile',
      send('PATCH', { display_name: 'Ada', wa_phone: '+254712345678' }),
    );
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ display_name: 'Ada', version: 1 });
    const unlocked = await api.call(PASSENGER, '/me/profile', send('PATCH', { locale: 'sw' }));
    expect(unlocked.status).toBe(428);
    const locked = await api.call(
      PASSENGER,
      '/me/profile',
      send('PATCH', { locale: 'sw-KE' }, { 'if-match': '"1"' }),
    );
    expect(await locked.json()).toMatchObject({ locale: 'sw-KE', version: 2 });
    const me = await (await api.call(PASSENGER, '/me')).json() as { profile: unknown };
    expect(me.profile).toMatchObject({ display_name: 'Ada', locale: 'sw-KE', version: 2 });
  });

  it('refuses a phone number that is not E.164', async () => {
    const res = await api.call(STRANGER, '/me/profile', send('PATCH', { wa_phone: '0712' }));
    expect(res.status).toBe(400);
    expect((await problemOf(res)).detail).toContain('wa_phone');
  });

  it('refuses free text with a control character or an unpaired surrogate, and keeps emoji', async () => {
    // JSON can carry a lone surrogate ("\ud800"); stored, it would come back as U+FFFD.
    for (const display_name of ['Ada\u0007', 'Ada\ud800', '\udc00Ada', 'A\u001bda']) {
      const res = await api.call(STRANGER, '/me/profile', send('PATCH', { display_name }));
      expect(res.status).toBe(400);
      expect((await problemOf(res)).detail).toContain('display_name');
    }
    const ride = await requestRide(STRANGER, { pickup: 'Kencom\ud83d', dropoff: 'Westlands' });
    expect(ride.status).toBe(400);
    expect((await problemOf(ride)).detail).toContain('pickup');
    const kept = await api.call(STRANGER, '/me/profile', send('PATCH', { display_name: 'Ada 🚕' }));
    expect(kept.status).toBe(200);
    const me = await (await api.call(STRANGER, '/me')).json() as { profile: unknown };
    expect(me.profile).toMatchObject({ display_name: 'Ada 🚕' });
  });
});

describe('/api/flags', () => {
  it('lists the flags as they stand for the caller', async () => {
    await database.db.query(`update feature_flags set enabled = false where key = 'intake.paypal'`);
    const res = await api.call(PASSENGER, '/flags');
    const { flags } = await res.json() as { flags: Record<string, boolean> };
    expect(flags).toMatchObject({ 'intake.paypal': false, 'intake.stripe': true });
  });

  it('evaluates each flag for the caller: groups from the token, rollout by id, app version', async () => {
    await database.db.query(
      `insert into feature_flags (key, description, groups, rollout_percent, min_app_version)
       values ('test.drivers', 'drivers only', '{drivers}', 100, null),
              ('test.admins', 'admins only', '{admin}', 100, null),
              ('test.nobody', 'rolled out to no one', '{}', 0, null),
              ('test.new_app', 'needs app 2.3.0', '{}', 100, '2.3.0')`,
    );
    try {
      const flagsOf = async (res: Response) =>
        (await res.json() as { flags: Record<string, boolean> }).flags;
      // The api function re-reads flags within a second of a change: wait until it has.
      const deadline = Date.now() + 3_000;
      let plain = await flagsOf(await api.call(PASSENGER, '/flags'));
      while (!('test.new_app' in plain) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        plain = await flagsOf(await api.call(PASSENGER, '/flags'));
      }
      expect(plain).toMatchObject({
        'test.drivers': false,
        'test.admins': false,
        'test.nobody': false,
        'test.new_app': false, // no X-App-Version
        'intake.stripe': true,
      });
      const driver = await flagsOf(
        await api.call(DRIVER, '/flags', { headers: { 'x-app-version': '2.3.1' } }, {
          groups: ['drivers'],
        }),
      );
      expect(driver).toMatchObject({
        'test.drivers': true,
        'test.admins': false,
        'test.new_app': true,
      });
      const admin = await flagsOf(
        await api.call(STRANGER, '/flags', { headers: { 'x-app-version': '2.3.0-rc.1' } }, {
          role: 'admin',
        }),
      );
      expect(admin).toMatchObject({
        'test.drivers': false,
        'test.admins': true,
        'test.new_app': false, // a pre-release ranks below its release
      });
      // A version string longer than 64 characters is refused before anything is evaluated.
      const res = await api.call(PASSENGER, '/flags', {
        headers: { 'x-app-version': 'x'.repeat(65) },
      });
      expect(res.status).toBe(400);
    } finally {
      await database.db.query(`delete from feature_flags where key like 'test.%'`);
    }
  });
});

describe('/api/rides', () => {
  it('lets a passenger request a ride, and shows it to its driver and no one else', async () => {
    const res = await requestRide(PASSENGER, { pickup: 'Kencom', dropoff: 'Westlands' });
    expect(res.status).toBe(201);
    const ride = await res.json() as { id: string; driver_user_id: string | null };
    expect(ride).toMatchObject({ passenger_user_id: PASSENGER, status: 'requested' });
    expect(ride.driver_user_id).toBeNull();
    // The app assigns the driver (as the service role).
    await database.db.query(
      `update rides set driver_user_id = $2, fare_cents = 45000, currency = 'KES' where id = $1`,
      [ride.id, DRIVER],
    );
    const driverView = await (await api.call(DRIVER, '/rides')).json() as { items: unknown[] };
    expect(driverView.items).toEqual([
      expect.objectContaining({ id: ride.id, fare_cents: 45000, version: 2 }),
    ]);
    expect((await api.call(STRANGER, `/rides/${ride.id}`)).status).toBe(404);
    const strangerList = await (await api.call(STRANGER, '/rides')).json() as { items: [] };
    expect(strangerList.items).toEqual([]);
    const cancelled = await api.call(
      PASSENGER,
      `/rides/${ride.id}`,
      send('PATCH', { status: 'cancelled' }, { 'if-match': '"2"' }),
    );
    expect(await cancelled.json()).toMatchObject({ status: 'cancelled', version: 3 });
  });

  it('holds a ride to its course: the passenger cancels, the driver drives', async () => {
    const requested = await requestRide(PASSENGER, { pickup: 'Kencom', dropoff: 'Westlands' });
    const ride = await requested.json() as { id: string };
    let version = 1;
    const patch = async (user: string, body: Record<string, unknown>) => {
      const res = await api.call(user, `/rides/${ride.id}`, send('PATCH', { ...body, version }));
      if (res.status === 200) version = (await res.clone().json() as { version: number }).version;
      return res;
    };
    // While it is requested, the passenger may change the route, not claim it done.
    expect((await patch(PASSENGER, { dropoff: 'Gigiri' })).status).toBe(200);
    const done = await patch(PASSENGER, { status: 'completed' });
    expect(done.status).toBe(409);
    expect(await problemOf(done)).toMatchObject({
      detail: 'you cannot take a ride from requested to completed',
    });
    await database.db.query(
      `update rides set driver_user_id = $2, status = 'accepted' where id = $1`,
      [ride.id, DRIVER],
    );
    version += 1;
    // The driver moves it along, never touching the route; once it runs, no one cancels it.
    expect((await patch(DRIVER, { pickup: 'Elsewhere' })).status).toBe(409);
    expect((await patch(PASSENGER, { pickup: 'Elsewhere' })).status).toBe(409);
    expect((await patch(DRIVER, { status: 'in_progress' })).status).toBe(200);
    expect((await patch(PASSENGER, { status: 'cancelled' })).status).toBe(409);
    const finished = await patch(DRIVER, { status: 'completed' });
    expect(await finished.json()).toMatchObject({
      status: 'completed',
      pickup: 'Kencom',
      dropoff: 'Gigiri',
    });
    expect((await patch(DRIVER, { status: 'in_progress' })).status).toBe(409);
  });

  it("tells partners what users do to a ride, in the ride's order, and nothing of what failed", async () => {
    const rideEvents = (id: string) =>
      database.db.query<{ type: string; ordering_key: string; payload: Record<string, unknown> }>(
        `select type, ordering_key, payload from outbound_events
          where payload ->> 'ride_id' = $1 order by id`,
        [id],
      );
    const requested = await requestRide(PASSENGER, { pickup: 'Kencom', dropoff: 'Westlands' });
    const ride = await requested.json() as { id: string };
    expect(await rideEvents(ride.id)).toEqual([{
      type: 'ride.requested',
      ordering_key: `ride:${ride.id}`,
      payload: {
        ride_id: ride.id,
        passenger_user_id: PASSENGER,
        pickup: 'Kencom',
        dropoff: 'Westlands',
        channel: 'app',
      },
    }]);
    let version = 1;
    const patch = async (user: string, body: Record<string, unknown>) => {
      const res = await api.call(user, `/rides/${ride.id}`, send('PATCH', { ...body, version }));
      if (res.status === 200) version = (await res.clone().json() as { version: number }).version;
      return res.status;
    };
    // A route change is no news; a refused move leaves no event behind.
    expect(await patch(PASSENGER, { dropoff: 'Gigiri' })).toBe(200);
    expect(await patch(PASSENGER, { status: 'completed' })).toBe(409);
    // The app assigns the driver itself (and says so itself, if it wants: no event here).
    await database.db.query(
      `update rides set driver_user_id = $2, status = 'accepted' where id = $1`,
      [ride.id, DRIVER],
    );
    version += 1;
    expect(await patch(DRIVER, { status: 'in_progress' })).toBe(200);
    expect(await patch(DRIVER, { status: 'completed' })).toBe(200);
    const events = await rideEvents(ride.id);
    expect(events.map((event) => [event.type, event.ordering_key])).toEqual([
      ['ride.requested', `ride:${ride.id}`],
      ['ride.in_progress', `ride:${ride.id}`],
      ['ride.completed', `ride:${ride.id}`],
    ]);
    expect(events[2]!.payload).toEqual({
      ride_id: ride.id,
      passenger_user_id: PASSENGER,
      driver_user_id: DRIVER,
      from: 'in_progress',
      by: 'driver',
    });

    // The passenger cancelling another ride: by the passenger.
    const other = await (await requestRide(PASSENGER, { pickup: 'A', dropoff: 'B' })).json() as {
      id: string;
    };
    const cancel = await api.call(
      PASSENGER,
      `/rides/${other.id}`,
      send('PATCH', { status: 'cancelled' }, { 'if-match': '"1"' }),
    );
    expect(cancel.status).toBe(200);
    expect((await rideEvents(other.id)).map((event) => [event.type, event.payload.by])).toEqual([
      ['ride.requested', undefined],
      ['ride.cancelled', 'passenger'],
    ]);
  });

  it('does not let a passenger assign a driver or set a fare', async () => {
    for (const body of [{ driver_user_id: DRIVER }, { fare_cents: 1 }]) {
      const res = await requestRide(PASSENGER, { pickup: 'A', dropoff: 'B', ...body });
      expect(res.status).toBe(400);
    }
  });
});

describe('the document and the door', () => {
  it('serves an OpenAPI 3.1 document generated from the route schemas', async () => {
    const res = await api.call(null, '/openapi.json');
    expect(res.status).toBe(200);
    const doc = await res.json() as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/flags',
      '/me',
      '/me/profile',
      '/qr-codes',
      '/qr-codes/{id}',
      '/qr-codes/{id}/image',
      '/rides',
      '/rides/{id}',
      '/vehicles',
      '/vehicles/{id}',
    ]);
    expect(Object.keys(doc.paths['/vehicles/{id}']!).sort()).toEqual(['delete', 'get', 'patch']);
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['Vehicle', 'VehiclePage', 'RidePage', 'QRCodePage']),
    );
    expect(doc.components.securitySchemes).toHaveProperty('bearer');
  });

  it('serves a docs page whose only inline script carries the response nonce', async () => {
    const res = await api.call(null, '/docs');
    expect(res.headers.get('content-type')).toContain('text/html');
    const csp = res.headers.get('content-security-policy')!;
    const nonce = /'nonce-([0-9a-f]+)'/.exec(csp)![1];
    const html = await res.text();
    const inline = html.match(/<script(?![^>]*\bsrc=)[^>]*>/g);
    expect(inline).toEqual([`<script nonce="${nonce}">`]);
    expect(csp).toContain("default-src 'none'");
  });

  it('asks for a token on every other route', async () => {
    for (const path of ['/me', '/flags', '/vehicles', '/rides']) {
      const res = await api.call(null, path);
      expect(res.status).toBe(401);
    }
  });

  it('answers 503 when user sign-in is not configured, and says so in the log', async () => {
    const { logger, entries } = capturedLogger();
    const app = createApiApp({
      config: parseConfig({}),
      db: database.db,
      logger,
      clock: systemClock,
    });
    const res = await app.request('/api/me');
    expect(res.status).toBe(503);
    expect((await problemOf(res)).detail).toBe('user sign-in is not configured on this server');
    expect(entries()).toContainEqual(
      expect.objectContaining({ msg: expect.stringContaining('user sign-in is not configured') }),
    );
  });
});
