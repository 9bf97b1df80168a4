import type { Queryable } from '../_shared/db/types.ts';
import { typed } from '../_shared/db/types.ts';
import {
  dynamic,
  end,
  excerpt,
  input,
  menu,
  type UssdNode,
} from '../_shared/webhooks/ussd/menu.ts';

/** The USSD action the menu records: the job kind `ussd.ride_request`. */
export const RIDE_REQUEST = 'ride_request';

/** Rides shown on one screen: a handset screen holds about 180 characters. */
const RIDES_SHOWN = 3;

const NO_ACCOUNT = end('No account uses this number yet. Send "hi" to us on WhatsApp to start.');

/** The caller's profile: the one whose proven WhatsApp number is the calling number. */
async function profileOf(db: Queryable, phoneNumber: string): Promise<string | null> {
  const [row] = await db.query<{ id: string }>(
    `select id from public.profiles where wa_phone = $1 and wa_verified_at is not null`,
    [typed(phoneNumber, 'text')],
  );
  return row?.id ?? null;
}

const myRides: UssdNode = dynamic(async ({ db, phoneNumber }) => {
  const profile = await profileOf(db, phoneNumber);
  if (!profile) return NO_ACCOUNT;
  const rides = await db.query<{ pickup: string; dropoff: string; status: string; paid: string }>(
    `select pickup, dropoff, status, payment_status as paid from public.rides
      where passenger_user_id = $1 order by created_at desc limit $2`,
    [typed(profile, 'uuid'), typed(RIDES_SHOWN, 'int4')],
  );
  if (rides.length === 0) return end('You have no rides yet.');
  return menu(
    'My rides',
    rides.map((ride, i) => ({
      key: String(i + 1),
      label: `${excerpt(ride.pickup, 14)} > ${excerpt(ride.dropoff, 14)}`,
      next: end(
        `${excerpt(ride.pickup, 50)} > ${
          excerpt(ride.dropoff, 50)
        }: ${ride.status}, payment ${ride.paid}.`,
      ),
    })),
  );
});

const payWithQr: UssdNode = dynamic(async ({ db, phoneNumber }) => {
  const profile = await profileOf(db, phoneNumber);
  if (!profile) return NO_ACCOUNT;
  const [code] = await db.query<{ payload: string }>(
    `select payload from public.qr_generations where user_id = $1
      order by created_at desc limit 1`,
    [typed(profile, 'uuid')],
  );
  return code
    ? end(`Your payment code: ${excerpt(code.payload, 60)}. Show its QR from the app to be paid.`)
    : end('You have no payment code yet. Create one in the app (Pay > New QR code).');
});

/**
 * The mobility hub's USSD menu: request a ride (recorded as a `ride_request` action), my
 * rides and my payment code (read for the calling number's account when reached), exit.
 * `0` goes back and `00` home below the main menu. Built from the platform's `menu`,
 * `input`, `dynamic` and `end`.
 */
export const mobilityMenu: UssdNode = menu('Gatehouse Mobility', [
  {
    key: '1',
    label: 'Request a ride',
    next: input(
      'Where should the driver pick you up?',
      (pickup) =>
        end(`Your ride request (pickup: ${excerpt(pickup)}) is recorded.`, {
          type: RIDE_REQUEST,
          data: { pickup },
        }),
    ),
  },
  { key: '2', label: 'My rides', next: myRides },
  { key: '3', label: 'Pay with QR code', next: payWithQr },
  { key: '0', label: 'Exit', next: end('Goodbye.') },
]);
