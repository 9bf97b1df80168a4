/**
 * Alerts: rules with severities P0–P3 evaluated once a minute by a job, incidents kept in
 * `alerts` (one open per rule), and one Slack-compatible message per incident when it fires
 * and one when it resolves, each delivered by a job with retries (docs/alerts.md).
 */
export {
  ALERT_THRESHOLDS,
  type AlertContext,
  type AlertFinding,
  type AlertRule,
  DEFAULT_ALERT_RULES,
  outboundEndpointsDisabled,
  PAYMENT_PROVIDERS,
  paymentIntakeFailing,
  queueBacklog,
  SEVERITIES,
  type Severity,
  sloFastBurn,
  slowJobs,
  webhookProcessingFailures,
} from './rules.ts';
export {
  ALERTS_EVALUATE_KIND,
  ALERTS_NOTIFY_KIND,
  ALERTS_QUEUE,
  alertsEvaluateHandler,
  type AlertTransition,
  evaluateAlerts,
  evaluationDedupeKey,
  type EvaluationReport,
  type NotifyPayload,
} from './evaluate.ts';
export {
  alertMessage,
  type AlertReceivers,
  alertsNotifyHandler,
  type NotifyOptions,
} from './notify.ts';
