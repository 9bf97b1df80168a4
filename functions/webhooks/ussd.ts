import type { Context } from 'hono';
import type { FlagReader } from '../_shared/flags/index.ts';
import { type AppEnv, ProblemError } from '../_shared/http/index.ts';
import type { IntakeEvent } from '../_shared/webhooks/events/types.ts';
import type { IngestLimits, Ingestor } from '../_shared/webhooks/ingest.ts';
import {
  parseUssdForm,
  type UssdForm,
  UssdFormError,
  type UssdGate,
  UssdGateError,
} from '../_shared/webhooks/ussd.ts';
import {
  answerUssd,
  renderUssdReply,
  type UssdNode,
  type UssdReply,
} from '../_shared/webhooks/ussd-menu.ts';
import { type AfterAck, startAfterAck } from './after-ack.ts';
import { readRawBody } from './body.ts';
import { admitDelivery, clientIp, type EdgeLimiter } from './client.ts';
import type { IntakeCounters } from './counters.ts';
import { USSD_BODY_LIMIT_BYTES } from '../_shared/webhooks/limits.ts';
import { storeEvents } from './store.ts';

export const USSD_PROVIDER = 'ussd';
export const USSD_FLAG = 'intake.ussd';
const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';

export interface UssdRouteDeps {
  readonly gate: UssdGate;
  /** The menu sessions walk (the app's); null: every session is told there is no service. */
  readonly menu: UssdNode | null;
  readonly flags: FlagReader;
  readonly ingestor: Ingestor;
  readonly limits: IngestLimits;
  readonly counters: IntakeCounters;
  readonly edgeLimiter?: EdgeLimiter | null;
  readonly afterAck?: AfterAck;
  readonly background: (task: Promise<unknown>) => void;
}

/**
 * `POST /webhooks/ussd` and `POST /webhooks/ussd/:token`: Africa's Talking's session
 * callback, answered synchronously with `CON ...` or `END ...` as text/plain.
 *
 * Order: gate (path token and/or source address; nothing else is read before it admits) →
 * optional per-IP tier → `intake.ussd` switch → content type and size → form → menu. A
 * step that completes an action (a ride request) is stored in `inbound_events` with one job
 * (key `<sessionId>:<text>`, so a gateway retry is a duplicate and gets the same answer)
 * before the answer is sent; browsing steps write nothing.
 *
 * Refusals: a wrong path token is answered exactly like an unknown path (404), so the
 * route cannot be found by guessing; a source address off the allow-list gets 403; a
 * missing token, or no gate configured at all (fail closed), gets 401. A form that is not
 * what the gateway sends, a field over its limit included (`USSD_*_MAX_CHARS`), gets 400
 * naming the fields; so does a value the database still refuses, and nothing is stored.
 */
/** The answer of a USSD route without a menu (an app that registered no USSD service). */
const NO_SERVICE: UssdReply = { kind: 'END', text: 'This service is not available.', action: null };

export function createUssdHandler(deps: UssdRouteDeps) {
  return async function ussd(c: Context<AppEnv>): Promise<Response> {
    c.get('logFields').provider = USSD_PROVIDER;
    admit(c, deps);
    await admitDelivery(c, deps, USSD_PROVIDER, USSD_FLAG, 'USSD');
    const raw = await readRawBody(c, {
      limitBytes: USSD_BODY_LIMIT_BYTES,
      mediaType: FORM_MEDIA_TYPE,
    });
    let form: UssdForm;
    try {
      form = parseUssdForm(new TextDecoder('utf-8', { fatal: true }).decode(raw));
    } catch (error) {
      deps.counters.rejected(USSD_PROVIDER, 'malformed');
      if (!(error instanceof UssdFormError)) {
        throw new ProblemError(400, { detail: 'body is not valid UTF-8' });
      }
      throw new ProblemError(400, { detail: error.message, extensions: { errors: error.issues } });
    }
    const reply = deps.menu === null ? NO_SERVICE : answerUssd(deps.menu, form.text);
    c.get('logFields').ussd = reply.kind;
    if (reply.action) {
      await record(c, deps, {
        key: `${form.sessionId}:${form.text}`,
        type: reply.action.type,
        kind: `ussd.${reply.action.type}`,
        sender: form.phoneNumber,
        payload: { ...form, action: reply.action },
      });
    }
    return c.text(renderUssdReply(reply), 200);
  };
}

/** Runs the gate; a refusal is counted and logged with its reason (never the token). */
function admit(c: Context<AppEnv>, deps: UssdRouteDeps): void {
  const token = c.req.param('token');
  const address = clientIp(c);
  try {
    deps.gate.check(token, address);
  } catch (error) {
    if (!(error instanceof UssdGateError)) throw error;
    deps.counters.rejected(USSD_PROVIDER, error.reason);
    c.get('logFields').reason = error.reason;
    if (error.part === 'path_token' && token !== undefined) {
      // The same answer as a path no route matches.
      throw new ProblemError(404, { detail: 'No route matches this path.' });
    }
    if (error.part === 'client_ip') {
      // The caller's own address helps an operator fix the allow-list; it is no secret.
      c.get('logFields').client_ip = address ?? null;
      throw new ProblemError(403, { detail: 'this address may not call the USSD callback' });
    }
    throw new ProblemError(401, { detail: 'USSD callback not authorised' });
  }
}

/**
 * Stores the action as an event with one job, after the commit; 429 when over the limit,
 * 400 when the database refused one of its values.
 */
async function record(c: Context<AppEnv>, deps: UssdRouteDeps, event: IntakeEvent) {
  const outcomes = await storeEvents(c, deps, {
    provider: USSD_PROVIDER,
    requestId: c.get('requestId'),
    events: [event],
    limits: deps.limits,
  }, { label: 'USSD', logKeys: false }); // its key holds what the user typed
  startAfterAck(deps, { provider: USSD_PROVIDER, events: [event], outcomes });
}
