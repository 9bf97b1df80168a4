/** Shared vocabulary of the webhook verifiers in this folder. */

export type Provider = 'whatsapp' | 'stripe' | 'paypal' | 'standard' | 'ussd';

/**
 * Why a delivery was refused. Every reason maps to 401 at the edge; the reason is logged
 * and counted, never sent to the caller (it would help an attacker probe).
 */
export const SIGNATURE_FAILURES = [
  'missing_header',
  'malformed_header',
  'no_secret_configured',
  'signature_mismatch',
  'timestamp_too_old',
  'timestamp_in_future',
  'certificate_untrusted',
  'certificate_unavailable',
  'certificate_expired',
] as const;
export type SignatureFailure = (typeof SIGNATURE_FAILURES)[number];

export class SignatureError extends Error {
  override readonly name = 'SignatureError';
  constructor(readonly reason: SignatureFailure, message?: string) {
    super(message ?? reason);
  }
}

/** Request headers as verifiers read them: case-insensitive lookup. */
export interface HeaderSource {
  get(name: string): string | null;
}
