import type { Queryable } from '../../_shared/db/types.ts';
import { emitEvent } from '../../_shared/outbound/index.ts';
import { typed } from '../../_shared/db/types.ts';
import type { OutboundMessage } from '../../_shared/whatsapp/index.ts';
import type { Incoming } from './incoming.ts';
import { type Conversation, FRESH } from './state.ts';

/** The app's flags for the bot's flows (declared in `functions/_app/index.ts`). */
export const BOT_FLAGS = {
  rides: 'app.rides',
  vehicles: 'app.vehicles',
  payments: 'app.payments',
  ocr: 'app.ocr',
} as const;

export type BotFlag = (typeof BOT_FLAGS)[keyof typeof BOT_FLAGS];

/** What the bot knows when it answers. */
export interface Turn {
  readonly tx: Queryable;
  readonly profileId: string;
  readonly name: string | null;
  readonly conversation: Conversation;
  /** Whether a flow's flag is on for this user. */
  enabled(flag: BotFlag): Promise<boolean>;
}

/** The bot's answer: what to send, where the conversation stands after, and work to queue. */
export interface Answer {
  readonly reply: OutboundMessage;
  readonly next: Conversation;
  /** A photo to read: queued as the app's OCR job. */
  readonly readPlate?: { readonly mediaId: string; readonly ocrJobId: string };
}

/** Words that bring the main menu whatever the conversation was doing. */
const GREETINGS = new Set(['hi', 'hello', 'hey', 'menu', 'start', 'hola', 'habari', 'jambo']);

/** Choice ids of the main menu's rows. */
export const CHOICES = {
  schedule: 'ride.schedule',
  myRides: 'ride.mine',
  register: 'vehicle.register',
  pay: 'pay.qr',
  help: 'help',
  menu: 'menu',
} as const;

const CANCEL_PREFIX = 'ride.cancel:';
/** A button that registers the plate after it (offered after reading a photo). */
export const VEHICLE_ADD_PREFIX = 'vehicle.add:';

/** The main menu: an interactive list, one row per flow. */
export function mainMenu(name: string | null): OutboundMessage {
  return {
    type: 'list',
    header: 'Gatehouse Mobility',
    body: `${name ? `Hi ${name}! ` : 'Hi! '}What would you like to do?`,
    footer: 'Send "menu" at any time',
    button: 'Menu',
    sections: [
      {
        title: 'Rides',
        rows: [
          { id: CHOICES.schedule, title: 'Schedule a ride', description: 'Pickup and destination' },
          { id: CHOICES.myRides, title: 'My rides', description: 'Your latest rides' },
        ],
      },
      {
        title: 'Vehicles',
        rows: [{
          id: CHOICES.register,
          title: 'Register a vehicle',
          description: 'Type the plate or send a photo of it',
        }],
      },
      {
        title: 'Payments',
        rows: [{ id: CHOICES.pay, title: 'Pay / my QR', description: 'Your USSD payment codes' }],
      },
      { title: 'Support', rows: [{ id: CHOICES.help, title: 'Help' }] },
    ],
  };
}

export const HELP_TEXT = 'I can schedule a ride, show your rides, register a vehicle and ' +
  'show your payment codes. Send "menu" to see the options, or share your location to ' +
  'start a ride from where you are.';

const PAUSED: Record<BotFlag, string> = {
  'app.rides': 'Ride booking is paused at the moment. Please try again a little later.',
  'app.vehicles': 'Vehicle registration is paused at the moment. Please try again later.',
  'app.payments': 'Payments are paused at the moment. Please try again later.',
  'app.ocr':
    'Reading photos is paused at the moment. Please type the plate number instead (for example KAA 123A).',
};

const text = (body: string): OutboundMessage => ({ type: 'text', text: body });

function paused(flag: BotFlag, next: Conversation = FRESH): Answer {
  return { reply: text(PAUSED[flag]), next };
}

/** Plates as the vehicles table takes them: upper case, letters, digits, spaces, dashes. */
export function normalizePlate(input: string): string | null {
  const plate = input.toUpperCase().replace(/\s+/g, ' ').trim();
  return /^[A-Z0-9][A-Z0-9 -]{0,14}[A-Z0-9]$/.test(plate) ? plate : null;
}

/** The bot's answer to one message, from where the conversation stands. */
export async function answer(turn: Turn, incoming: Incoming): Promise<Answer> {
  const { conversation } = turn;
  if (incoming.kind === 'text' && GREETINGS.has(incoming.text.toLowerCase().replace(/[!.]/g, ''))) {
    return { reply: mainMenu(turn.name), next: FRESH };
  }
  if (incoming.kind === 'choice') return await choose(turn, incoming.id);
  if (incoming.kind === 'image') return await photo(turn, incoming.mediaId);
  if (conversation.flow === 'ride') return await rideStep(turn, incoming);
  if (conversation.flow === 'vehicle' && incoming.kind === 'text') {
    return await registerPlate(turn, incoming.text);
  }
  if (incoming.kind === 'location') {
    // A location out of the blue: a ride from there.
    if (!(await turn.enabled(BOT_FLAGS.rides))) return paused(BOT_FLAGS.rides);
    return rideStep(
      { ...turn, conversation: { flow: 'ride', step: 'pickup', data: {} } },
      incoming,
    );
  }
  return { reply: text(HELP_TEXT), next: FRESH };
}

async function choose(turn: Turn, id: string): Promise<Answer> {
  switch (id) {
    case CHOICES.menu:
      return { reply: mainMenu(turn.name), next: FRESH };
    case CHOICES.help:
      return { reply: text(HELP_TEXT), next: FRESH };
    case CHOICES.schedule:
      if (!(await turn.enabled(BOT_FLAGS.rides))) return paused(BOT_FLAGS.rides);
      return {
        reply: text(
          'Where should we pick you up? Share your location (📎 → Location) or type the address.',
        ),
        next: { flow: 'ride', step: 'pickup', data: {} },
      };
    case CHOICES.myRides:
      if (!(await turn.enabled(BOT_FLAGS.rides))) return paused(BOT_FLAGS.rides);
      return { reply: text(await myRides(turn)), next: FRESH };
    case CHOICES.register:
      if (!(await turn.enabled(BOT_FLAGS.vehicles))) return paused(BOT_FLAGS.vehicles);
      return {
        reply: text('Type the plate number (for example KAA 123A), or send a photo of the plate.'),
        next: { flow: 'vehicle', step: 'plate', data: {} },
      };
    case CHOICES.pay:
      if (!(await turn.enabled(BOT_FLAGS.payments))) return paused(BOT_FLAGS.payments);
      return { reply: text(await paymentCodes(turn)), next: FRESH };
  }
  if (id.startsWith(VEHICLE_ADD_PREFIX)) {
    return await registerPlate(turn, id.slice(VEHICLE_ADD_PREFIX.length));
  }
  if (id.startsWith(CANCEL_PREFIX)) {
    if (!(await turn.enabled(BOT_FLAGS.rides))) return paused(BOT_FLAGS.rides);
    return { reply: text(await cancelRide(turn, id.slice(CANCEL_PREFIX.length))), next: FRESH };
  }
  return { reply: text(HELP_TEXT), next: FRESH };
}

/** The ride flow: pickup, then destination, then the ride is requested. */
async function rideStep(turn: Turn, incoming: Incoming): Promise<Answer> {
  if (!(await turn.enabled(BOT_FLAGS.rides))) return paused(BOT_FLAGS.rides);
  const place = incoming.kind === 'location'
    ? incoming.label
    : incoming.kind === 'text' && incoming.text !== ''
    ? incoming.text.slice(0, 200)
    : null;
  if (place === null) {
    return {
      reply: text('Please share a location or type an address.'),
      next: turn.conversation,
    };
  }
  if (turn.conversation.step !== 'dropoff') {
    return {
      reply: text(`Pickup: ${place}. And where to? Type the destination or share a location.`),
      next: { flow: 'ride', step: 'dropoff', data: { pickup: place } },
    };
  }
  const pickup = String(turn.conversation.data.pickup ?? '').slice(0, 200) || place;
  const [ride] = await turn.tx.query<{ id: string }>(
    `insert into public.rides (passenger_user_id, pickup, dropoff) values ($1, $2, $3)
     returning id`,
    [typed(turn.profileId, 'uuid'), typed(pickup, 'text'), typed(place, 'text')],
  );
  await emitEvent(turn.tx, 'ride.requested', {
    ride_id: ride!.id,
    passenger_user_id: turn.profileId,
    pickup,
    dropoff: place,
    channel: 'whatsapp',
  }, { orderingKey: `ride:${ride!.id}` });
  return {
    reply: {
      type: 'buttons',
      body: `Ride requested: ${pickup} → ${place}. We will tell you when a driver accepts.`,
      buttons: [
        { id: `${CANCEL_PREFIX}${ride!.id}`, title: 'Cancel ride' },
        { id: CHOICES.menu, title: 'Menu' },
      ],
    },
    next: FRESH,
  };
}

async function myRides(turn: Turn): Promise<string> {
  const rides = await turn.tx.query<
    { pickup: string; dropoff: string; status: string; at: string }
  >(
    `select pickup, dropoff, status, to_char(created_at at time zone 'UTC', 'DD Mon HH24:MI') as at
       from public.rides
      where passenger_user_id = $1 or driver_user_id = $1
      order by created_at desc limit 5`,
    [typed(turn.profileId, 'uuid')],
  );
  if (rides.length === 0) return 'You have no rides yet. Send "menu" to schedule one.';
  return [
    'Your latest rides:',
    ...rides.map((r) => `• ${r.at} ${r.pickup} → ${r.dropoff} (${r.status})`),
  ]
    .join('\n');
}

async function cancelRide(turn: Turn, rideId: string): Promise<string> {
  if (!/^[0-9a-f-]{36}$/i.test(rideId)) return 'That ride could not be found.';
  const cancelled = await turn.tx.query(
    `update public.rides set status = 'cancelled'
      where id = $1 and passenger_user_id = $2 and status in ('requested', 'accepted')
     returning id`,
    [typed(rideId, 'uuid'), typed(turn.profileId, 'uuid')],
  );
  if (cancelled.length === 0) return 'That ride can no longer be cancelled.';
  await emitEvent(turn.tx, 'ride.cancelled', {
    ride_id: rideId,
    passenger_user_id: turn.profileId,
    by: 'passenger',
  }, { orderingKey: `ride:${rideId}` });
  return 'Your ride is cancelled.';
}

async function registerPlate(turn: Turn, input: string): Promise<Answer> {
  if (!(await turn.enabled(BOT_FLAGS.vehicles))) return paused(BOT_FLAGS.vehicles);
  const plate = normalizePlate(input);
  if (!plate) {
    return {
      reply: text('That does not look like a plate number. Try again, for example KAA 123A.'),
      next: turn.conversation,
    };
  }
  const added = await turn.tx.query(
    `insert into public.vehicles (owner_user_id, plate) values ($1, $2)
     on conflict (owner_user_id, plate) do nothing returning id`,
    [typed(turn.profileId, 'uuid'), typed(plate, 'text')],
  );
  return {
    reply: text(
      added.length > 0
        ? `Vehicle ${plate} is registered. Send "menu" for more.`
        : `Vehicle ${plate} was already registered.`,
    ),
    next: FRESH,
  };
}

/** A photo: read the plate on it (the OCR job), if reading photos is on. */
async function photo(turn: Turn, mediaId: string): Promise<Answer> {
  if (!(await turn.enabled(BOT_FLAGS.vehicles))) return paused(BOT_FLAGS.vehicles);
  if (!(await turn.enabled(BOT_FLAGS.ocr))) {
    return paused(BOT_FLAGS.ocr, { flow: 'vehicle', step: 'plate', data: {} });
  }
  const [job] = await turn.tx.query<{ id: string }>(
    `insert into public.vehicle_ocr_jobs (user_id, image_path) values ($1, $2) returning id`,
    [typed(turn.profileId, 'uuid'), typed(`whatsapp-media:${mediaId}`, 'text')],
  );
  return {
    reply: text('Got your photo. Reading the plate, one moment…'),
    next: FRESH,
    readPlate: { mediaId, ocrJobId: job!.id },
  };
}

async function paymentCodes(turn: Turn): Promise<string> {
  const codes = await turn.tx.query<{ payload: string; amount: string | null }>(
    `select payload,
            case when amount_cents is null then null
                 else to_char(amount_cents / 100.0, 'FM999999990.00') || ' ' || coalesce(currency, '') end
              as amount
       from public.qr_generations where user_id = $1 order by created_at desc limit 3`,
    [typed(turn.profileId, 'uuid')],
  );
  if (codes.length === 0) {
    return 'You have no payment code yet. Create one in the app (Pay → New QR code).';
  }
  return [
    'Dial to pay:',
    ...codes.map((c) => `• ${c.payload}${c.amount ? ` (${c.amount.trim()})` : ''}`),
  ]
    .join('\n');
}
