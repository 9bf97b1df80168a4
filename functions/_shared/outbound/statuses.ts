/**
 * The outbound webhooks' status words, in a module of their own (no I/O, no imports) so
 * the operator console's filters can use the same lists without bundling the deliverer.
 */
export const ENDPOINT_STATUSES = ['active', 'paused', 'disabled'] as const;
export type EndpointStatus = (typeof ENDPOINT_STATUSES)[number];

export const DELIVERY_OUTCOMES = ['succeeded', 'failed', 'gone'] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];
