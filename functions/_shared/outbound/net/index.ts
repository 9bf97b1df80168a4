/**
 * Network safety for outbound webhooks: the SSRF guard (which URLs a delivery may reach, and
 * at which single address) and the pinned HTTP client that connects to that address only.
 *
 * @example
 * ```ts
 * const policy = createOutboundPolicy({ allowHttp: false, allowedTargets: [] });
 * const target = await resolveTarget(endpoint.url, policy); // throws OutboundRefused
 * const response = await pinnedRequest(target, { method: 'POST', headers, body });
 * ```
 */
export {
  type FailureReason,
  OutboundRefused,
  OutboundRequestFailed,
  type RefusalReason,
} from './errors.ts';
export {
  checkUrl,
  createOutboundPolicy,
  DEFAULT_RESOLVE_TIMEOUT_MS,
  type OutboundPolicy,
  type OutboundPolicyOptions,
  type ResolvedTarget,
  type Resolver,
  resolveTarget,
  systemResolver,
} from './guard.ts';
export {
  DEFAULT_EXCERPT_BYTES,
  DEFAULT_TIMEOUT_MS,
  pinnedRequest,
  type PinnedRequestOptions,
  type PinnedResponse,
} from './pinned.ts';
export { blockedRange, parseCidr, parseIp } from './ranges.ts';
