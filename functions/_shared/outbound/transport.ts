/**
 * The delivery transport: the endpoint's URL checked by the SSRF guard and resolved once,
 * the request sent to that one address (no second lookup, so no rebinding in between), no
 * redirects followed, one deadline over lookup and exchange, a bounded excerpt of the answer.
 */
import type { OutboundConfig } from '../config/index.ts';
import { DeliveryError, type DeliveryTransport, RESPONSE_EXCERPT_BYTES } from './deliver.ts';
import {
  createOutboundPolicy,
  OutboundRefused,
  OutboundRequestFailed,
  pinnedRequest,
  type Resolver,
  resolveTarget,
} from './net/index.ts';

export function guardedTransport(
  config: Pick<OutboundConfig, 'allowHttp' | 'allowedTargets'>,
  options: { resolver?: Resolver } = {},
): DeliveryTransport {
  const policy = createOutboundPolicy({
    allowHttp: config.allowHttp,
    allowedTargets: config.allowedTargets,
    ...(options.resolver ? { resolver: options.resolver } : {}),
  });
  return async (url, request) => {
    const started = Date.now();
    try {
      const target = await resolveTarget(url, policy);
      const left = Math.max(1, request.timeoutMs - (Date.now() - started));
      const res = await pinnedRequest(target, {
        method: 'POST',
        headers: request.headers,
        body: request.body,
        timeoutMs: left,
        maxExcerptBytes: RESPONSE_EXCERPT_BYTES,
      });
      return { status: res.status, headers: new Headers(res.headers), excerpt: res.excerpt };
    } catch (error) {
      if (error instanceof OutboundRefused || error instanceof OutboundRequestFailed) {
        throw new DeliveryError(error.reason, error.message);
      }
      throw error;
    }
  };
}
