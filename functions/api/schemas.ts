import { z } from '@hono/zod-openapi';
import { freeText } from '../_shared/http/openapi.ts';

/** The user API's shapes: one zod schema each validates requests and documents the API. */

export const Uuid = z.uuid().openapi({ example: '6f1c2a8e-1d4b-4c5e-9a7f-3b2d1e0f9a8b' });
const Timestamp = z.string().openapi({ format: 'date-time' });
const Version = z.number().int().min(1).openapi({
  description: 'Bumped by every change; send it back (or `If-Match`) to update.',
});

export const Profile = z.object({
  id: Uuid,
  display_name: z.string().nullable(),
  wa_phone: z.string().nullable(),
  locale: z.string().nullable(),
  version: Version,
  created_at: Timestamp,
  updated_at: Timestamp,
}).openapi('Profile');

const profileFields = {
  display_name: freeText(100).nullable(),
  wa_phone: z.string().regex(/^\+[1-9][0-9]{6,14}$/, 'an E.164 number such as +254712345678')
    .nullable(),
  locale: z.string().regex(/^[a-z]{2,3}(-[A-Z]{2})?$/, 'a locale such as en or sw-KE').nullable(),
};
export const ProfileUpdate = z.object(profileFields).partial().extend({
  version: Version.optional(),
}).strict().openapi('ProfileUpdate');

export const Me = z.object({
  id: Uuid,
  email: z.string().nullable(),
  role: z.enum(['admin', 'operator', 'support', 'user']),
  profile: Profile.nullable(),
}).openapi('Me');

/** The client's version, for flags with a minimum app version. */
export const AppVersionHeader = z.object({
  'x-app-version': z.string().max(64).optional().openapi({
    description: "Your app's version (semver, e.g. 2.3.0); flags with a minimum are off without it",
  }),
});

export const Flags = z.object({
  flags: z.record(z.string(), z.boolean()),
}).openapi('Flags');

export const Vehicle = z.object({
  id: Uuid,
  owner_user_id: Uuid,
  plate: z.string(),
  make: z.string().nullable(),
  model: z.string().nullable(),
  color: z.string().nullable(),
  seats: z.number().int().nullable(),
  status: z.enum(['active', 'inactive']),
  version: Version,
  created_at: Timestamp,
  updated_at: Timestamp,
}).openapi('Vehicle');

const vehicleFields = {
  plate: z.string().trim().toUpperCase().regex(
    /^[A-Z0-9][A-Z0-9 -]{0,14}[A-Z0-9]$/,
    '2-16 letters, digits, spaces or dashes',
  ),
  make: freeText(60).nullable(),
  model: freeText(60).nullable(),
  color: freeText(30).nullable(),
  seats: z.number().int().min(1).max(60).nullable(),
  status: z.enum(['active', 'inactive']),
};
export const VehicleCreate = z.object({
  plate: vehicleFields.plate,
  make: vehicleFields.make.optional(),
  model: vehicleFields.model.optional(),
  color: vehicleFields.color.optional(),
  seats: vehicleFields.seats.optional(),
}).strict().openapi('VehicleCreate');
export const VehicleUpdate = z.object(vehicleFields).partial().extend({
  version: Version.optional(),
}).strict().openapi('VehicleUpdate');

export const RIDE_STATUSES = [
  'requested',
  'accepted',
  'in_progress',
  'completed',
  'cancelled',
] as const;
export const Ride = z.object({
  id: Uuid,
  passenger_user_id: Uuid,
  driver_user_id: Uuid.nullable(),
  vehicle_id: Uuid.nullable(),
  pickup: z.string(),
  dropoff: z.string(),
  status: z.enum(RIDE_STATUSES),
  fare_cents: z.number().int().nullable(),
  currency: z.string().nullable(),
  version: Version,
  created_at: Timestamp,
  updated_at: Timestamp,
}).openapi('Ride');

const place = freeText(200);
export const RideCreate = z.object({ pickup: place, dropoff: place }).strict().openapi(
  'RideCreate',
);
export const RideUpdate = z.object({
  pickup: place.optional(),
  dropoff: place.optional(),
  status: z.enum(RIDE_STATUSES).optional(),
  version: Version.optional(),
}).strict().openapi('RideUpdate');

/** Most items one page may hold. */
export const MAX_PAGE_SIZE = 100;
export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(20).openapi({
    description: `Items per page, at most ${MAX_PAGE_SIZE}.`,
  }),
  cursor: z.string().max(200).optional().openapi({
    description: "The previous page's `next_cursor`.",
  }),
});

export function pageOf<T extends z.ZodType>(item: T, name: string) {
  return z.object({
    items: z.array(item),
    next_cursor: z.string().nullable().openapi({
      description: 'Pass as `cursor` for the next page; null on the last one.',
    }),
  }).openapi(name);
}

export const IdParam = z.object({ id: Uuid.openapi({ param: { name: 'id', in: 'path' } }) });

export const QrCode = z.object({
  id: Uuid,
  user_id: Uuid,
  kind: z.enum(['ussd_payment']),
  payload: z.string().openapi({ description: 'The USSD code the QR code dials' }),
  amount_cents: z.number().int().nullable(),
  currency: z.string().nullable(),
  created_at: Timestamp,
}).openapi('QrCode');

export const QrCreate = z.object({
  ussd: z.string().regex(
    /^\*[0-9*]{1,180}#$/,
    'a USSD code: * then digits and *, ending in #, e.g. *334*1*123456#',
  ),
  amount_cents: z.number().int().min(1).max(1e12).optional(),
  currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as KES').optional(),
}).strict().openapi('QrCreate');

export const QrImageQuery = z.object({
  format: z.enum(['svg', 'png']).default('svg'),
  size: z.coerce.number().int().min(64).max(1024).default(256).openapi({
    description: 'Width of a PNG in pixels',
  }),
});
