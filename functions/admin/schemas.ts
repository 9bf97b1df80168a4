import { z } from '@hono/zod-openapi';
import { EVENT_STATUSES } from '../_shared/jobs/trace.ts';
import { JOB_STATES } from '../_shared/queue/index.ts';
import { printable } from '../_shared/http/index.ts';
import { freeText } from '../_shared/http/openapi.ts';

/** The admin API's shapes: one zod schema each validates requests and documents the API. */

const Timestamp = z.string().openapi({ format: 'date-time' });

/** A text filter of at most `max` characters, none of them a control character. */
export const filterText = (max: number, description: string) =>
  z.string().min(1).max(max).refine(printable, 'no control characters').optional()
    .openapi({ description });

export const JobErrorEntry = z.object({
  attempt: z.number().int(),
  at: z.string(),
  error: z.string(),
  worker: z.string().nullable().optional(),
  permanent: z.boolean().optional(),
}).openapi('JobError');

export const EventSummary = z.object({
  id: z.number().int(),
  provider: z.string(),
  key: z.string(),
  type: z.string(),
  status: z.enum(EVENT_STATUSES),
  sender: z.string().nullable(),
  request_id: z.string().nullable(),
  received_at: Timestamp,
  job_status: z.string().nullable().openapi({
    description: '`pending`, `running`, `completed`, `dead`; null: no job (rate limited, purged)',
  }),
  attempts: z.number().int().nullable(),
}).openapi('Event');

export const EventDetail = EventSummary.extend({
  payload: z.unknown(),
  jobs: z.array(z.object({
    id: z.number().int(),
    kind: z.string(),
    status: z.string(),
    attempts: z.number().int(),
    max_attempts: z.number().int(),
    last_error: z.string().nullable(),
    errors: z.array(JobErrorEntry),
    created_at: Timestamp,
    at: Timestamp.nullable(),
  })),
}).openapi('EventDetail');

export const JobSummary = z.object({
  id: z.number().int(),
  queue: z.string(),
  kind: z.string(),
  status: z.enum(JOB_STATES),
  priority: z.number().int(),
  attempts: z.number().int(),
  max_attempts: z.number().int(),
  last_error: z.string().nullable(),
  request_id: z.string().nullable(),
  created_at: Timestamp,
  at: Timestamp.nullable().openapi({
    description: 'When it is due (pending), started (running), completed, or died (dead)',
  }),
  locked_by: z.string().nullable(),
}).openapi('Job');

export const JobDetail = JobSummary.extend({
  payload: z.unknown(),
  errors: z.array(JobErrorEntry),
  dedupe_key: z.string().nullable(),
}).openapi('JobDetail');

export const DeadJob = z.object({
  id: z.number().int(),
  queue: z.string(),
  kind: z.string(),
  payload: z.unknown(),
  attempts: z.number().int(),
  max_attempts: z.number().int(),
  last_error: z.string().nullable(),
  errors: z.array(JobErrorEntry),
  request_id: z.string().nullable(),
  created_at: Timestamp,
  dead_at: Timestamp,
}).openapi('DeadJob');

export const Replayed = z.object({
  replayed: z.number().int().openapi({ description: 'Jobs put back on their queues' }),
  ids: z.array(z.number().int()),
}).openapi('Replayed');

export const Flag = z.object({
  key: z.string(),
  enabled: z.boolean(),
  rollout_percent: z.number().int(),
  groups: z.array(z.string()),
  environments: z.array(z.string()),
  min_app_version: z.string().nullable(),
  description: z.string().nullable(),
  updated_at: Timestamp,
  updated_by: z.string(),
}).openapi('Flag');

const label = z.string().trim().min(1).max(64).regex(
  /^[A-Za-z0-9_.:-]+$/,
  'a group or environment name',
);
export const FlagUpdate = z.object({
  enabled: z.boolean(),
  rollout_percent: z.number().int().min(0).max(100),
  groups: z.array(label).max(32),
  environments: z.array(label).max(8),
  min_app_version: z.string().max(64).nullable().openapi({ description: 'A semver, or null' }),
  description: freeText(500).nullable(),
}).partial().strict().refine((update) => Object.keys(update).length > 0, {
  message: 'name at least one field to change',
}).openapi('FlagUpdate');

export const AuditEntry = z.object({
  id: z.number().int(),
  created_at: Timestamp,
  actor: z.string(),
  action: z.string(),
  entity_type: z.string(),
  entity_id: z.string().nullable(),
  before: z.unknown(),
  after: z.unknown(),
  context: z.unknown(),
  request_id: z.string().nullable(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
}).openapi('AuditEntry');
