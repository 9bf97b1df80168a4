import type { Transaction } from '../db/types.ts';
import { typed } from '../db/types.ts';
import type { Logger } from '../log/index.ts';
import { sampleQueues } from '../queue/history.ts';
import { enqueueJobs } from '../queue/store.ts';
import type { JobHandler } from '../queue/types.ts';
import type { AlertContext, AlertFinding, AlertRule } from './rules.ts';

/** The queue alert jobs run in (the platform's own, beside retention). */
export const ALERTS_QUEUE = 'gatehouse';
/** Evaluates every rule; scheduled once a minute. */
export const ALERTS_EVALUATE_KIND = 'gatehouse.alerts.evaluate';
/** Tells a severity's receiver that an alert fired or resolved. */
export const ALERTS_NOTIFY_KIND = 'gatehouse.alerts.notify';

export type AlertTransition = 'fired' | 'resolved';

export interface NotifyPayload {
  readonly alert_id: number;
  readonly transition: AlertTransition;
}

export interface EvaluationReport {
  /** Rules firing now (newly or still). */
  readonly firing: string[];
  /** Rules that started firing in this evaluation (a notification enqueued for each). */
  readonly fired: string[];
  /** Rules that stopped firing in this evaluation (a notification enqueued for each). */
  readonly resolved: string[];
  /** Rules whose evaluation failed; their state is left as it was. */
  readonly failed: string[];
}

/**
 * Evaluates `rules` in `tx` and records what changed in `alerts`: a rule that starts firing
 * opens an incident, one that stops closes it, and each change enqueues its notification in
 * the same transaction. The partial unique index on open incidents makes the change happen
 * once however many evaluations run at the same time; a rule still firing only updates its
 * incident's last value. A rule that throws is logged and skipped (its incident stays as
 * it was: no resolve from a failed read).
 */
export async function evaluateAlerts(
  tx: Transaction,
  rules: readonly AlertRule[],
  options: { now: number; logger: Logger },
): Promise<EvaluationReport> {
  const report: EvaluationReport = { firing: [], fired: [], resolved: [], failed: [] };
  const memos = new Map<string, Promise<unknown>>();
  const ctx: AlertContext = {
    db: tx,
    now: options.now,
    memo<T>(key: string, load: () => Promise<T>): Promise<T> {
      let value = memos.get(key) as Promise<T> | undefined;
      if (!value) {
        value = load();
        memos.set(key, value);
      }
      return value;
    },
  };
  for (const rule of rules) {
    try {
      await tx.savepoint(async (sp) => {
        const finding = await rule.evaluate({ ...ctx, db: sp });
        if (finding) {
          report.firing.push(rule.key);
          if (await openIncident(sp, rule, finding)) report.fired.push(rule.key);
        } else if (await closeIncident(sp, rule.key)) {
          report.resolved.push(rule.key);
        }
      });
    } catch (error) {
      report.failed.push(rule.key);
      options.logger.error('alert rule failed', { rule: rule.key, error });
    }
  }
  return report;
}

/** Opens the rule's incident unless one is open (then refreshes it); true when opened. */
async function openIncident(
  tx: Transaction,
  rule: AlertRule,
  finding: AlertFinding,
): Promise<boolean> {
  const summary = finding.summary.slice(0, 2_000);
  const details = typed(finding.details ?? {}, 'jsonb');
  const opened = await tx.query<{ id: string | number }>(
    `insert into public.alerts (rule, severity, summary, value, details)
     values ($1, $2, $3, $4, $5)
     on conflict (rule) where resolved_at is null do nothing
     returning id`,
    [rule.key, rule.severity, summary, finding.value, details],
  );
  if (opened.length === 0) {
    await tx.query(
      `update public.alerts set last_seen_at = pg_catalog.now(), summary = $2, value = $3,
              details = $4
        where rule = $1 and resolved_at is null`,
      [rule.key, summary, finding.value, details],
    );
    return false;
  }
  await enqueueNotification(tx, Number(opened[0]!.id), 'fired');
  return true;
}

/** Resolves the rule's open incident, if any; true when one was resolved here. */
async function closeIncident(tx: Transaction, rule: string): Promise<boolean> {
  const closed = await tx.query<{ id: string | number }>(
    `update public.alerts set resolved_at = greatest(pg_catalog.now(), fired_at)
      where rule = $1 and resolved_at is null
     returning id`,
    [rule],
  );
  if (closed.length === 0) return false;
  await enqueueNotification(tx, Number(closed[0]!.id), 'resolved');
  return true;
}

async function enqueueNotification(
  tx: Transaction,
  alertId: number,
  transition: AlertTransition,
): Promise<void> {
  const payload: NotifyPayload = { alert_id: alertId, transition };
  await enqueueJobs(tx, [{
    queue: ALERTS_QUEUE,
    kind: ALERTS_NOTIFY_KIND,
    payload,
    dedupeKey: `${ALERTS_NOTIFY_KIND}:${alertId}:${transition}`,
  }]);
}

/** The evaluation job: every rule, then a line saying what changed. */
export function alertsEvaluateHandler(
  rules: readonly AlertRule[],
  clock: { now(): number },
): JobHandler<unknown> {
  return async (_payload, ctx) => {
    const now = clock.now();
    const report = await evaluateAlerts(ctx.tx, rules, { now, logger: ctx.logger });
    // The minute's sample of the queues, for the console's queue chart: its own savepoint,
    // so a failed sample costs the chart a point, never the evaluation.
    try {
      await ctx.tx.savepoint((tx) => sampleQueues(tx, { at: new Date(now) }));
    } catch (error) {
      ctx.logger.warn('queue sample failed', { error });
    }
    ctx.describe({
      firing: report.firing.join(',') || null,
      fired: report.fired.join(',') || null,
      resolved: report.resolved.join(',') || null,
    });
    for (const rule of report.fired) ctx.logger.warn('alert fired', { rule });
    for (const rule of report.resolved) ctx.logger.info('alert resolved', { rule });
  };
}

/** The minute an evaluation belongs to: one evaluation job per minute, however many ask. */
export function evaluationDedupeKey(now: Date): string {
  return `${ALERTS_EVALUATE_KIND}:${now.toISOString().slice(0, 16)}`;
}
