/**
 * Outbound webhooks: events emitted inside business transactions (`emitEvent`), delivered
 * to the endpoints that subscribe to them, signed with Standard Webhooks, retried on the
 * published schedule, with per-endpoint flow control and a shared breaker
 * (docs/outbound-webhooks.md).
 */
import type { Clock } from '../clock.ts';
import type { OutboundConfig } from '../config/index.ts';
import type { Queryable } from '../db/types.ts';
import type { GatehouseMetrics } from '../metrics/catalog.ts';
import { createBreakers } from '../breaker/index.ts';
import type { DeliveryTransport, WebhookDelivererOptions } from './deliver.ts';
import { createSecretBox } from './secrets.ts';
import { guardedTransport } from './transport.ts';

export { emitEvent, type EmitOptions, EVENT_TYPE } from './emit.ts';
export {
  DELIVERY_TIMEOUT_MS,
  type DeliveryTransport,
  RETRY_SCHEDULE_MS,
  WEBHOOK_DELIVER_KIND,
  WEBHOOK_QUEUE,
  type WebhookDelivererOptions,
  webhookDeliverHandler,
} from './deliver.ts';
export { createSecretBox, newSigningSecret, type SecretBox } from './secrets.ts';

/**
 * What the delivery job needs, from the config: the secrets' keys, the guarded transport
 * (targets checked against `GATEHOUSE_WEBHOOK_ALLOWED_TARGETS` and the address rules), the
 * endpoints' breakers on `db`.
 */
export function outboundDelivery(deps: {
  readonly config: OutboundConfig;
  readonly db: Queryable;
  readonly clock: Clock;
  readonly transport?: DeliveryTransport;
  readonly metrics?: GatehouseMetrics;
}): WebhookDelivererOptions {
  return {
    db: deps.db,
    clock: deps.clock,
    secrets: createSecretBox(deps.config.encryptionKeys),
    transport: deps.transport ?? guardedTransport(deps.config),
    breakers: createBreakers(deps.db, { clock: deps.clock }),
    disableAfterMs: deps.config.disableAfterMs,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
  };
}
