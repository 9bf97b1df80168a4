import { z } from '@hono/zod-openapi';
import { ENDPOINT_STATUSES, EVENT_PATTERN } from '../_shared/outbound/endpoints.ts';
import { DELIVERY_OUTCOMES } from '../_shared/outbound/listing.ts';
import { IN_ORDER, inOrder, PageQuery, TimeRange } from './context.ts';
import { PLAIN_TEXT_MESSAGE, plainText } from '../_shared/http/index.ts';

/** The outbound webhook routes' shapes (`webhooks.ts`): requests and answers. */

const Timestamp = z.string().openapi({ format: 'date-time' });
const Uuid = z.uuid().openapi({ example: '6f1c2a8e-1d4b-4c5e-9a7f-3b2d1e0f9a8b' });

/** Most hours a rotated-out secret may keep signing (30 days). */
export const MAX_OVERLAP_HOURS = 720;

export const EndpointIdParam = z.object({
  id: Uuid.openapi({ param: { name: 'id', in: 'path' } }),
});
export const MessageIdParam = z.object({
  id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).openapi({
    param: { name: 'id', in: 'path' },
    example: 42,
  }),
});

/** The `If-Match` request header of a change: the `ETag` read. */
export const IfMatch = z.object({
  'if-match': z.string().max(64).optional().openapi({ description: 'The ETag read, e.g. "3"' }),
});
/** The `ETag` response header: the endpoint's version. */
export const ETagHeader = z.object({
  ETag: z.string().openapi({ description: 'The version, for If-Match' }),
});

const Url = z.string().trim().min(10).max(2048).openapi({
  description: 'Where deliveries are POSTed: https (http only in development), no ' +
    'credentials, no fragment, not an internal address unless allowed ' +
    '(`GATEHOUSE_WEBHOOK_ALLOWED_TARGETS`)',
  example: 'https://partner.example.com/hooks/gatehouse',
});
const EventTypes = z.array(
  z.string().max(200).regex(EVENT_PATTERN, 'an event type, a prefix ending in .* or *'),
).min(1).max(50).refine((types) => new Set(types).size === types.length, 'each pattern once')
  .openapi({
    description: 'Event types it subscribes to: `ride.completed`, `ride.*`, or `*` for all',
    example: ['ride.*', 'payment.succeeded'],
  });
const Description = z.string().trim().max(500).refine(plainText, PLAIN_TEXT_MESSAGE);
const RateLimit = z.number().int().min(1).max(10_000).nullable().openapi({
  description: 'Deliveries a second at most; null: no limit',
});
const MaxInFlight = z.number().int().min(1).max(64).openapi({
  description: 'Attempts out at once at most (default 4)',
});

export const EndpointCreate = z.object({
  url: Url,
  description: Description.optional(),
  event_types: EventTypes,
  rate_limit_per_second: RateLimit.optional(),
  max_in_flight: MaxInFlight.optional(),
}).strict().openapi('WebhookEndpointCreate');

export const EndpointUpdate = z.object({
  url: Url,
  description: Description,
  event_types: EventTypes,
  rate_limit_per_second: RateLimit,
  max_in_flight: MaxInFlight,
}).partial().extend({
  version: z.number().int().min(1).max(999_999_999).optional().openapi({
    description: 'The version read (instead of If-Match): a stale one answers 409',
  }),
}).strict().refine(
  (update) => Object.keys(update).some((key) => key !== 'version'),
  { message: 'name at least one field to change' },
).openapi('WebhookEndpointUpdate');

export const PauseRequest = z.object({
  reason: z.string().trim().min(1).max(500).refine(plainText, PLAIN_TEXT_MESSAGE)
    .optional().openapi({ description: 'Why, for whoever looks next' }),
}).strict().openapi('WebhookEndpointPause');

export const RotateRequest = z.object({
  overlap_hours: z.number().min(0).max(MAX_OVERLAP_HOURS).optional().openapi({
    description: 'How long the current secrets keep signing beside the new one ' +
      '(default `GATEHOUSE_WEBHOOK_SECRET_OVERLAP_HOURS`, 24)',
  }),
}).strict().openapi('WebhookSecretRotation');

/** Most messages one replay request looks at: this many batches of `REPLAY_BATCH_SIZE`. */
export const MAX_REPLAY_BATCHES = 10;

const ReplayInstant = z.iso.datetime({ offset: true }).openapi({
  example: '2026-12-07T09:00:00Z',
});

export const ReplayRequest = z.object({
  since: ReplayInstant.openapi({
    description: 'Replay messages of events emitted from this time on (inclusive)',
  }),
  until: ReplayInstant.optional().openapi({
    description: '...and before this time (exclusive); default now. Pass back the `until` ' +
      'of an answer to continue the same range',
  }),
  include_succeeded: z.boolean().default(false).openapi({
    description: 'Replay delivered messages too, not only failed ones',
  }),
  after_message: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().openapi({
    description: "Continue after this message id: the previous answer's `next_after_message`",
  }),
}).strict().refine(inOrder, IN_ORDER).openapi('WebhookReplayRequest');

export const Replayed = z.object({
  replayed: z.number().int().openapi({ description: 'Messages put back to pending now' }),
  remaining: z.number().int().openapi({
    description: 'Messages of the range this request did not reach: call again with ' +
      '`after_message` and `until` to replay them',
  }),
  next_after_message: z.number().int().nullable().openapi({
    description: 'Send as `after_message` to continue; null when nothing remains',
  }),
  until: Timestamp.openapi({ description: 'The end of the range replayed' }),
}).openapi('WebhookReplayed');

export const EndpointQuery = PageQuery.extend({
  status: z.enum(ENDPOINT_STATUSES).optional(),
});

export const DeliveryQuery = PageQuery.extend(TimeRange.shape).extend({
  outcome: z.enum(DELIVERY_OUTCOMES).optional(),
}).refine(inOrder, IN_ORDER);

export const HealthQuery = z.object({
  window_hours: z.coerce.number().int().min(1).max(MAX_OVERLAP_HOURS).default(24).openapi({
    description: 'The attempts counted: those of the last this many hours',
  }),
});

export const Endpoint = z.object({
  id: Uuid,
  url: z.string(),
  description: z.string(),
  event_types: z.array(z.string()),
  status: z.enum(ENDPOINT_STATUSES),
  status_reason: z.string().nullable(),
  rate_limit_per_second: z.number().int().nullable(),
  max_in_flight: z.number().int(),
  failing_since: Timestamp.nullable().openapi({
    description: 'The first failed attempt since the last success',
  }),
  version: z.number().int(),
  created_by: z.string(),
  created_at: Timestamp,
  updated_at: Timestamp,
}).openapi('WebhookEndpoint');

const SecretHint = z.object({
  id: Uuid,
  hint: z.string().openapi({ description: "The secret's last four characters" }),
  created_at: Timestamp,
  expires_at: Timestamp.nullable().openapi({ description: 'When it stops signing' }),
}).openapi('WebhookSecretHint');

export const EndpointDetail = Endpoint.extend({
  secrets: z.array(SecretHint).openapi({ description: 'The secrets signing now, by hint' }),
}).openapi('WebhookEndpointDetail');

export const EndpointCreated = EndpointDetail.extend({
  secret: z.string().openapi({
    description: 'The signing secret (`whsec_...`), shown this once',
  }),
}).openapi('WebhookEndpointCreated');

export const Resumed = z.object({
  endpoint: Endpoint,
  released: z.number().int().openapi({ description: 'Held messages queued again' }),
}).openapi('WebhookEndpointResumed');

export const Rotated = z.object({
  secret: z.string().openapi({ description: 'The new signing secret, shown this once' }),
  previous_secrets_expire_at: Timestamp.openapi({
    description: 'When the secrets it had stop signing',
  }),
  secrets: z.array(SecretHint),
}).openapi('WebhookSecretRotated');

export const TestSent = z.object({
  event_id: z.number().int(),
  message_id: z.number().int().openapi({ description: 'See `GET /webhooks/messages/{id}`' }),
  status: z.string().openapi({ description: '`pending`, or `held` while the endpoint is off' }),
}).openapi('WebhookTestSent');

export const Health = z.object({
  status: z.enum(ENDPOINT_STATUSES),
  status_reason: z.string().nullable(),
  failing_since: Timestamp.nullable(),
  breaker: z.string().openapi({ description: '`closed`, `open` or `half_open`' }),
  backlog: z.record(z.string(), z.number()).openapi({
    description: 'Unfinished messages by status',
  }),
  oldest_backlog_ms: z.number().nullable(),
  window_hours: z.number().int(),
  attempts: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  success_rate: z.number().nullable(),
  latency_ms: z.object({ p50: z.number().nullable(), p99: z.number().nullable() }),
  last_error: z.string().nullable(),
  last_attempt_at: Timestamp.nullable(),
}).openapi('WebhookEndpointHealth');

export const Delivery = z.object({
  id: z.number().int(),
  message_id: z.number().int(),
  event_id: z.number().int(),
  event_type: z.string(),
  attempt: z.number().int(),
  outcome: z.enum(DELIVERY_OUTCOMES),
  status_code: z.number().int().nullable(),
  duration_ms: z.number().int(),
  error: z.string().nullable(),
  response_excerpt: z.string().nullable(),
  created_at: Timestamp,
}).openapi('WebhookDelivery');

export const Message = z.object({
  id: z.number().int(),
  event_id: z.number().int(),
  endpoint_id: Uuid,
  webhook_id: z.string().openapi({ description: 'The `webhook-id` every attempt carries' }),
  event_type: z.string(),
  payload: z.unknown(),
  ordering_key: z.string().nullable(),
  status: z.string(),
  attempts: z.number().int(),
  next_attempt_at: Timestamp.nullable(),
  last_error: z.string().nullable(),
  emitted_at: Timestamp,
  created_at: Timestamp,
  updated_at: Timestamp,
  finished_at: Timestamp.nullable(),
  deliveries: z.array(Delivery),
}).openapi('WebhookMessage');
