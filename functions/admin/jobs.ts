import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { OperatorEnv } from '../_shared/auth/index.ts';
import {
  ALL_TIME,
  type DeadJob as Dead,
  findJob,
  type JobDetail as Detail,
  type JobSummary as Summary,
  pageDeadJobs,
  pageJobs,
  replayDeadJobs,
} from '../_shared/queue/index.ts';
import { ProblemError } from '../_shared/http/index.ts';
import {
  type Admin,
  type AdminDeps,
  adminRoute,
  audited,
  cursorOf,
  IN_ORDER,
  inOrder,
  iso,
  json,
  notFound,
  pageOf,
  PageQuery,
  problem,
  TimeRange,
} from './context.ts';
import { DeadJob, filterText, JobDetail, JobSummary, Replayed } from './schemas.ts';

/** Most dead jobs one replay request names. */
export const MAX_REPLAY_IDS = 100;

const JobId = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const IdParam = z.object({
  id: JobId.openapi({ param: { name: 'id', in: 'path' }, example: 42 }),
});

const queueFilter = filterText(
  128,
  'A queue and its sub-queues: `standard` matches `standard` and `standard:github`',
);
const JobQuery = PageQuery.extend(TimeRange.shape).extend({
  status: z.enum(['pending', 'running', 'completed']).optional(),
  queue: queueFilter,
  kind: filterText(128, 'e.g. `stripe.event`'),
}).refine(inOrder, IN_ORDER);
const DeadJobQuery = PageQuery.extend(TimeRange.shape).extend({
  queue: queueFilter,
  kind: filterText(128, 'e.g. `stripe.event`'),
}).refine(inOrder, IN_ORDER);

const ReplaySelection = z.object({
  ids: z.array(z.number().int().min(1).max(Number.MAX_SAFE_INTEGER)).min(1).max(MAX_REPLAY_IDS)
    .refine((ids) => new Set(ids).size === ids.length, 'each id once')
    .openapi({ description: `The dead jobs to replay, at most ${MAX_REPLAY_IDS}` }),
}).strict().openapi('ReplaySelection');

const jobView = (job: Summary) => ({
  id: job.id,
  queue: job.queue,
  kind: job.kind,
  status: job.status,
  priority: job.priority,
  attempts: job.attempts,
  max_attempts: job.maxAttempts,
  last_error: job.lastError,
  request_id: job.requestId,
  created_at: job.createdAt.toISOString(),
  at: iso(job.at),
  locked_by: job.lockedBy,
});

const detailView = (job: Detail) => ({
  ...jobView(job),
  payload: job.payload,
  errors: job.errors,
  dedupe_key: job.dedupeKey,
});

const deadView = (job: Dead) => ({
  id: job.id,
  queue: job.queue,
  kind: job.kind,
  payload: job.payload,
  attempts: job.attempts,
  max_attempts: job.maxAttempts,
  last_error: job.lastError,
  errors: job.errors,
  request_id: job.requestId,
  created_at: job.createdAt.toISOString(),
  dead_at: job.deadAt.toISOString(),
});

/** `/jobs` and `/dead-jobs`: the queue, the dead letters with their errors, and replays. */
export function jobRoutes(admin: Admin, deps: AdminDeps): void {
  admin.openapi(
    adminRoute('ops:read', {
      method: 'get',
      path: '/jobs',
      tags: ['jobs'],
      summary: 'Jobs in the queue (pending, running, completed), newest first',
      request: { query: JobQuery },
      responses: { 200: json(pageOf(JobSummary, 'JobPage'), 'One page') },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const page = await pageJobs(deps.db, {
        status: query.status,
        queue: query.queue,
        kind: query.kind,
        from: query.since,
        to: query.until,
      }, { limit: query.limit, after: cursorOf(query.cursor) });
      return c.json({ items: page.items.map(jobView), next_cursor: page.nextCursor }, 200);
    },
  );

  admin.openapi(
    adminRoute('ops:read', {
      method: 'get',
      path: '/jobs/{id}',
      tags: ['jobs'],
      summary: 'One job, live or dead, with its payload and every failed attempt',
      request: { params: IdParam },
      responses: { 200: json(JobDetail, 'The job'), 404: problem('No such job') },
    }),
    async (c) => {
      const job = await findJob(deps.db, c.req.valid('param').id);
      if (!job) throw notFound('job');
      return c.json(detailView(job) as never, 200);
    },
  );

  admin.openapi(
    adminRoute('ops:read', {
      method: 'get',
      path: '/dead-jobs',
      tags: ['jobs'],
      summary: 'Dead letters, newest first, with their error history',
      request: { query: DeadJobQuery },
      responses: { 200: json(pageOf(DeadJob, 'DeadJobPage'), 'One page') },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const page = await pageDeadJobs(
        deps.db,
        { since: ALL_TIME, provider: query.queue, kind: query.kind },
        { limit: query.limit, from: query.since, to: query.until, after: cursorOf(query.cursor) },
      );
      return c.json(
        { items: page.items.map(deadView), next_cursor: page.nextCursor } as never,
        200,
      );
    },
  );

  /** Replays `ids`, all of them or none: 404 naming the ids that are not dead jobs. */
  const replay = (c: Context<OperatorEnv>, ids: number[]) =>
    audited(c, deps, async (tx) => {
      // Locked here so a concurrent replay cannot take them between the check and the replay.
      const found = await tx.query<{ id: string }>(
        'select id from public.dead_jobs where id = any($1::bigint[]) for update',
        [ids],
      );
      const dead = new Set(found.map((row) => Number(row.id)));
      const missing = ids.filter((id) => !dead.has(id));
      if (missing.length > 0) {
        throw new ProblemError(404, {
          detail: `no dead job with id ${missing.join(', ')}`,
          extensions: { missing },
        });
      }
      const replayed = await replayDeadJobs(tx, { since: ALL_TIME, ids }, c.get('operator').actor);
      return { replayed, ids };
    });

  admin.openapi(
    adminRoute('jobs:replay', {
      method: 'post',
      path: '/dead-jobs/{id}/replay',
      tags: ['jobs'],
      summary: 'Replay one dead job: back on its queue, due now, attempts reset',
      description: 'Writes a `job.replay` audit row naming the caller.',
      request: { params: IdParam },
      responses: { 200: json(Replayed, 'Replayed'), 404: problem('No dead job with this id') },
    }),
    async (c) => c.json(await replay(c, [c.req.valid('param').id]), 200),
  );

  admin.openapi(
    adminRoute('jobs:replay', {
      method: 'post',
      path: '/dead-jobs/replay',
      tags: ['jobs'],
      summary: 'Replay a selection of dead jobs, all or none',
      description: 'Writes a `job.replay` audit row per job, naming the caller.',
      request: {
        body: { content: { 'application/json': { schema: ReplaySelection } }, required: true },
      },
      responses: {
        200: json(Replayed, 'Replayed'),
        404: problem('Some ids name no dead job (`missing`); nothing was replayed'),
      },
    }),
    async (c) => c.json(await replay(c, c.req.valid('json').ids), 200),
  );
}
