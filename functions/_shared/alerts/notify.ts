import type { Queryable } from '../db/types.ts';
import { PermanentJobError, RetryJobError } from '../queue/errors.ts';
import type { JobHandler } from '../queue/types.ts';
import type { AlertTransition, NotifyPayload } from './evaluate.ts';
import type { Severity } from './rules.ts';

/** Where each severity's messages go: Slack-compatible incoming-webhook URLs. */
export type AlertReceivers = Readonly<Partial<Record<Severity, string>>>;

export interface NotifyOptions {
  readonly receivers: AlertReceivers;
  /** Shown in every message, so staging and production alerts are told apart. */
  readonly environment: string;
  readonly fetch?: typeof fetch;
  /** Bound on one delivery (default 10 s); past it the job is retried. */
  readonly timeoutMs?: number;
}

type AlertRow = {
  id: string | number;
  rule: string;
  severity: Severity;
  summary: string;
  fired_at: string | Date;
  resolved_at: string | Date | null;
};

const MARK: Record<AlertTransition, string> = { fired: 'FIRING', resolved: 'RESOLVED' };

/**
 * The message a receiver gets: Slack's incoming-webhook body (`text`, with Slack's mrkdwn),
 * which Mattermost, Rocket.Chat, Discord's `/slack` endpoint and most chat tools accept.
 */
export function alertMessage(
  alert: Omit<AlertRow, 'id'> & { id: number },
  transition: AlertTransition,
  environment: string,
): { text: string } {
  const fired = new Date(alert.fired_at);
  const head = `[${alert.severity}] ${MARK[transition]}: ${alert.rule} (${environment})`;
  if (transition === 'fired') {
    return {
      text: `*${head}*\n${alert.summary}\nSince ${fired.toISOString()} · alert #${alert.id}`,
    };
  }
  const resolved = new Date(alert.resolved_at ?? Date.now());
  const minutes = Math.max(0, Math.round((resolved.getTime() - fired.getTime()) / 60_000));
  return {
    text:
      `*${head}*\nCleared after ${minutes} min (fired ${fired.toISOString()}); last seen: ${alert.summary}\nalert #${alert.id}`,
  };
}

/**
 * The notification job: posts the alert's message to its severity's receiver once, and
 * records when the receiver took it. A receiver that is down, times out or answers 429 or
 * 5xx is retried with backoff (429's `Retry-After` honoured); any other 4xx means the URL is
 * wrong and the job is dead-lettered with the status. No receiver for the severity: nothing
 * is sent, the job completes, and the alert stays visible in `alerts`. The URL (a secret)
 * is never logged.
 */
export function alertsNotifyHandler(options: NotifyOptions): JobHandler<NotifyPayload> {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  return async (payload, ctx) => {
    const alertId = Number(payload?.alert_id);
    const transition = payload?.transition;
    if (!Number.isSafeInteger(alertId) || (transition !== 'fired' && transition !== 'resolved')) {
      throw new PermanentJobError('payload needs alert_id and transition fired|resolved');
    }
    const alert = await loadAlert(ctx.tx, alertId);
    if (!alert) throw new PermanentJobError(`alert ${alertId} does not exist`);
    ctx.describe({ rule: alert.rule, severity: alert.severity, transition });
    const url = options.receivers[alert.severity];
    if (!url) {
      ctx.logger.info('no alert receiver for the severity; not sent', {
        severity: alert.severity,
        rule: alert.rule,
      });
      return;
    }
    const body = JSON.stringify(alertMessage(alert, transition, options.environment));
    let res: Response;
    try {
      res = await doFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]),
        redirect: 'error',
      });
    } catch (error) {
      // The error's message may carry the URL: keep only its kind.
      const kind = error instanceof Error ? error.name : 'error';
      throw new Error(`alert receiver unreachable (${kind})`);
    }
    await res.body?.cancel();
    if (res.status === 429) {
      throw new RetryJobError('alert receiver rate-limited us (429)', retryAfterMs(res));
    }
    if (res.status >= 500) throw new Error(`alert receiver answered ${res.status}`);
    if (!res.ok) throw new PermanentJobError(`alert receiver refused the message (${res.status})`);
    const column = transition === 'fired' ? 'fired_notified_at' : 'resolved_notified_at';
    await ctx.tx.query(
      `update public.alerts set ${column} = pg_catalog.now() where id = $1`,
      [alertId],
    );
  };
}

async function loadAlert(db: Queryable, id: number) {
  const [row] = await db.query<AlertRow>(
    'select id, rule, severity, summary, fired_at, resolved_at from public.alerts where id = $1',
    [id],
  );
  return row ? { ...row, id: Number(row.id) } : null;
}

/** `Retry-After` in seconds (the form chat services use), capped at an hour. */
function retryAfterMs(res: Response): number | undefined {
  const seconds = Number(res.headers.get('retry-after'));
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 3_600) * 1_000 : undefined;
}
