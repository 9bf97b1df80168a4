import { typed } from '../_shared/db/types.ts';
import { ProblemError } from '../_shared/http/index.ts';
import {
  countReplayable,
  REPLAY_BATCH_SIZE,
  replayBatches,
  type ReplayRange,
} from '../_shared/outbound/replay.ts';
import {
  type Admin,
  type AdminDeps,
  adminRoute,
  auditContextOf,
  IN_ORDER,
  json,
  notFound,
  problem,
} from './context.ts';
import { EndpointIdParam, MAX_REPLAY_BATCHES, Replayed, ReplayRequest } from './webhook-schemas.ts';

const MAX_LOOKED_AT = MAX_REPLAY_BATCHES * REPLAY_BATCH_SIZE;

/**
 * `POST /webhooks/endpoints/{id}/replay`: an endpoint's failed messages (and delivered ones
 * when asked) of events emitted in a time range back to pending, each with a delivery job:
 * what `gatehouse webhooks replay` does, through the same batches (`replayBatches`), each
 * in its own transaction with a `webhook_endpoint.replay` audit row naming the caller. One
 * request looks at `MAX_REPLAY_BATCHES` batches at most; the answer says how many messages
 * remain and where to continue.
 */
export function webhookReplayRoutes(admin: Admin, deps: AdminDeps): void {
  admin.openapi(
    adminRoute('webhooks:write', {
      method: 'post',
      path: '/webhooks/endpoints/{id}/replay',
      tags: ['webhooks'],
      summary: "Replay an endpoint's failed messages of a time range",
      description: 'Messages whose events were emitted from `since` until `until` go back to ' +
        'pending with their attempts reset and a delivery job each (held again while the ' +
        `endpoint is paused or disabled). At most ${MAX_LOOKED_AT.toLocaleString('en')} ` +
        'messages are looked at per request: while `remaining` is above 0, call again with ' +
        "`after_message` (the answer's `next_after_message`) and its `until`. Audited as " +
        `\`webhook_endpoint.replay\`, one row per batch of ${REPLAY_BATCH_SIZE}.`,
      request: {
        params: EndpointIdParam,
        body: { content: { 'application/json': { schema: ReplayRequest } }, required: true },
      },
      responses: { 200: json(Replayed, 'Replayed'), 404: problem('No such endpoint') },
    }),
    async (c) => {
      const id = c.req.valid('param').id.toLowerCase();
      const body = c.req.valid('json');
      const [found] = await deps.db.query<{ now: Date | string }>(
        'select now() as now from public.webhook_endpoints where id = $1',
        [typed(id, 'uuid')],
      );
      if (!found) throw notFound('endpoint');
      const from = new Date(body.since);
      const to = new Date(body.until ?? found.now);
      if (from >= to) {
        throw new ProblemError(400, {
          detail: `since: ${IN_ORDER.message}`,
          extensions: { errors: [{ path: 'since', message: IN_ORDER.message }] },
        });
      }
      const range: ReplayRange = {
        endpointId: id,
        from,
        to,
        includeSucceeded: body.include_succeeded,
      };
      let after: number | null = body.after_message ?? null;
      let replayed = 0;
      let batches = 0;
      for await (const batch of replayBatches(deps.db, range, after, auditContextOf(c))) {
        replayed += batch.replayed;
        after = batch.lastId;
        if (++batches === MAX_REPLAY_BATCHES) break;
      }
      const finished = batches < MAX_REPLAY_BATCHES;
      const remaining = finished ? 0 : await countReplayable(deps.db, range, after);
      return c.json({
        replayed,
        remaining,
        next_after_message: remaining > 0 ? after : null,
        until: to.toISOString(),
      }, 200);
    },
  );
}
