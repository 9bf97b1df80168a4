import {
  SignatureError,
  type SignatureFailure,
} from '../../../functions/_shared/webhooks/types.ts';

/**
 * Runs a verification that must fail and returns the reason it gave. Anything but a
 * `SignatureError` (including verifying) fails the test, so a verifier that returns
 * false, or throws some other error, is caught.
 *
 * @example
 * ```ts
 * expect(await signatureFailure(() => verifyWhatsAppSignature(body, null, secrets)))
 *   .toBe('missing_header');
 * ```
 */
export async function signatureFailure(verify: () => unknown): Promise<SignatureFailure> {
  try {
    await verify();
  } catch (error) {
    if (error instanceof SignatureError) return error.reason;
    throw error;
  }
  throw new Error('expected a SignatureError, but the delivery verified');
}
