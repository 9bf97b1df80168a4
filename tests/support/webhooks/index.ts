/** Test support for webhook verifiers and for tests of the whole intake. */
export { fromBase64, signStandard, signStripe, signWhatsApp, toBase64 } from './signers.ts';
export { signatureFailure } from './assertions.ts';
export { type TestWhatsAppMessage, whatsappNotification } from './payloads.ts';
