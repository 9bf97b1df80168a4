/** The job kinds this provider's events become (read by the job registry, which loads no
 * verifier). */
export const JOB_KINDS = ['paypal.event'] as const;
