import { decodeUtf8, MalformedPayloadError } from '../events/types.ts';
import { USSD_BODY_LIMIT_BYTES } from '../limits.ts';
import { CallerRefusedError, providerBucket, type ProviderModule } from '../provider.ts';
import { createUssdGate, parseUssdForm, UssdFormError, UssdGateError } from './callback.ts';
import {
  answerUssd,
  renderUssdReply,
  type UssdNode,
  type UssdReply,
  type UssdSession,
} from './menu.ts';

/** The answer of a USSD route without a menu (an app that registered no USSD service). */
const NO_SERVICE: UssdReply = { kind: 'END', text: 'This service is not available.', action: null };

/** The answer when a screen could not be built in time: the session ends, politely. */
const BUSY: UssdReply = {
  kind: 'END',
  text: 'The service is busy. Please try again in a moment.',
  action: null,
};

/**
 * How long building a session's screen may take (its dynamic screens' reads included):
 * gateways drop a session whose answer takes a few seconds, and users see the wait.
 */
export const USSD_ANSWER_DEADLINE_MS = 800;

/** The session's next screen within the deadline; BUSY when it could not be built. */
async function answerWithin(
  menu: UssdNode,
  text: string,
  session: UssdSession,
): Promise<{ reply: UssdReply; failure: string | null }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), USSD_ANSWER_DEADLINE_MS);
  });
  try {
    const reply = await Promise.race([answerUssd(menu, text, session), late]);
    return reply === 'late' ? { reply: BUSY, failure: 'deadline' } : { reply, failure: null };
  } catch (error) {
    return { reply: BUSY, failure: error instanceof Error ? error.name : 'error' };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Africa's Talking USSD session callbacks, `POST /webhooks/ussd` and
 * `POST /webhooks/ussd/:token`: a form, answered synchronously with the session's next
 * screen (`CON ...` or `END ...`, text/plain) from the app's menu (`GatehouseApp.ussd`).
 *
 * The callbacks carry no signature, so a gate comes first: the path token and/or the
 * gateway's addresses (nothing else is read before it admits). A wrong path token is
 * answered exactly like an unknown path (404), so the route cannot be found by guessing; an
 * address off the allow-list gets 403; a missing token, or no gate configured at all (fail
 * closed), 401. A form that is not what the gateway sends, a field over its limit
 * (`USSD_*_MAX_CHARS`) included, gets 400 naming the fields.
 *
 * A step that completes an action (a ride request) is stored with one job of kind
 * `ussd.<type>` (key `<sessionId>:<text>`, so a gateway retry is a duplicate and gets the
 * same answer) before the answer is sent; browsing steps store nothing. The key holds what
 * the user typed, so it stays off the request line.
 */
export const ussd: ProviderModule = {
  // The app's action types (`ussd.<type>`), which the job registry adds from the app.
  jobKinds: [],
  // The path token shown as a placeholder, never its value.
  endpoints: ({ ussd: { pathTokens, allowedIps } }) => [{
    provider: 'ussd',
    flag: 'intake.ussd',
    path: pathTokens.length > 0 ? '/ussd/<USSD_PATH_TOKEN>' : '/ussd',
    ...(pathTokens.length === 0 && allowedIps.length === 0
      ? { missing: 'USSD_PATH_TOKEN or USSD_ALLOWED_IPS' }
      : {}),
  }],
  create: ({ config, limits, app, db }) => {
    const gate = createUssdGate(config.ussd);
    const menu = app.ussd?.menu ?? null;
    return {
      paths: ['/ussd', '/ussd/:token'],
      flag: 'intake.ussd',
      bodyLimitBytes: USSD_BODY_LIMIT_BYTES,
      mediaType: 'application/x-www-form-urlencoded',
      label: 'USSD',
      name: () => 'ussd',
      gate({ params, clientIp }) {
        try {
          gate.check(params.token, clientIp);
        } catch (error) {
          if (!(error instanceof UssdGateError)) throw error;
          throw refusal(error, params.token, clientIp);
        }
      },
      // The gate above stands in for a signature, which the gateway does not send.
      async extract(raw) {
        let form;
        try {
          form = parseUssdForm(decodeUtf8(raw));
        } catch (error) {
          if (!(error instanceof UssdFormError)) throw error;
          throw new MalformedPayloadError(error.message, error.issues);
        }
        const { reply, failure } = menu === null
          ? { reply: NO_SERVICE, failure: null }
          : await answerWithin(menu, form.text, {
            phoneNumber: form.phoneNumber,
            sessionId: form.sessionId,
            serviceCode: form.serviceCode,
            db,
          });
        const action = reply.action;
        return {
          events: action
            ? [{
              key: `${form.sessionId}:${form.text}`,
              type: action.type,
              kind: `ussd.${action.type}`,
              sender: form.phoneNumber,
              payload: { ...form, action },
            }]
            : [],
          limits: providerBucket('ussd:global', limits),
          reply: renderUssdReply(reply),
          logKeys: false,
          logFields: failure ? { ussd: reply.kind, ussd_failure: failure } : { ussd: reply.kind },
        };
      },
    };
  },
};

/** How a refused callback is answered; the reason is logged, never the token. */
function refusal(
  error: UssdGateError,
  token: string | undefined,
  clientIp: string | undefined,
): CallerRefusedError {
  if (error.part === 'path_token' && token !== undefined) {
    // The same answer as a path no route matches.
    return new CallerRefusedError(404, 'No route matches this path.', error.reason);
  }
  if (error.part === 'client_ip') {
    // The caller's own address helps an operator fix the allow-list; it is no secret.
    return new CallerRefusedError(
      403,
      'this address may not call the USSD callback',
      error.reason,
      {
        client_ip: clientIp ?? null,
      },
    );
  }
  return new CallerRefusedError(401, 'USSD callback not authorised', error.reason);
}
