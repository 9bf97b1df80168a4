import { JOB_KINDS as paypal } from './paypal/kinds.ts';
import { JOB_KINDS as standard } from './standard/kinds.ts';
import { JOB_KINDS as stripe } from './stripe/kinds.ts';
import { JOB_KINDS as whatsapp } from './whatsapp/kinds.ts';

/**
 * The job kinds of the providers in `providers.ts`, for the job registry, which runs them
 * without loading any provider's verifier (the worker function stays small). A test keeps
 * this list equal to the providers' own.
 */
export const PROVIDER_JOB_KINDS: readonly string[] = [
  ...whatsapp,
  ...stripe,
  ...paypal,
  ...standard,
];
