import type { Clock } from './clock.ts';
import type { InboundEventProcessor } from './jobs/inbound.ts';
import type { JobContext, JobPolicy } from './queue/types.ts';
import type { UssdNode } from './webhooks/ussd/menu.ts';
import type { WhatsAppSender } from './whatsapp/sender.ts';

/**
 * What an app built on Gatehouse adds to the platform, registered in one place
 * (`functions/_app/index.ts`) and handed to every host (the edge functions' entries, the
 * local server, the CLI) through the runtime. The platform never imports the app.
 *
 * @example
 * export const app: GatehouseApp = {
 *   name: 'shop',
 *   processors: {
 *     'stripe.event': async (event, ctx) => {
 *       await ctx.tx.query('update orders set paid = true where id = $1', [...]);
 *     },
 *   },
 * };
 */
export interface GatehouseApp {
  /** The app's name, as logs show it. */
  readonly name: string;
  /**
   * What the app does with a stored event, by job kind (`whatsapp.message`,
   * `stripe.event`, `ussd.<action>`, ...). Each runs in the event's job, inside its
   * transaction, after the platform's own step for the kind: throw to retry with backoff,
   * `PermanentJobError` to dead-letter at once. Kinds without one are marked processed.
   */
  readonly processors?: Readonly<Partial<Record<string, InboundEventProcessor>>>;
  /** The USSD service, when the app has one. */
  readonly ussd?: {
    /** The menu sessions walk (built from `menu`, `input` and `end`). */
    readonly menu: UssdNode;
    /**
     * The action types its end nodes record (`end(text, { type })`): each becomes the job
     * kind `ussd.<type>`. An action not listed is still stored, and its job dead-letters
     * ("no handler") until it is, so nothing is lost.
     */
    readonly actions: readonly string[];
  };
  /**
   * The app's feature flags, by key (`rides.whatsapp`): what each switches and whether it is
   * on before an operator says otherwise. `gatehouse migrate` (and `npm start`) writes a row
   * for each flag the table lacks, so operators find it there with its description; an
   * operator's choice is never overwritten. Until its row exists a flag answers `enabled`.
   * Read them with `ctx.flags.isEnabled(key)` in a processor.
   */
  readonly flags?: Readonly<Record<string, AppFlag>>;
  /**
   * The app's own job kinds (work its processors enqueue with `enqueueJobs(ctx.tx, ...)`,
   * e.g. reading a photo), by kind: a handler of the payload and, if the defaults do not
   * suit, a retry policy. Kinds must not start with `gatehouse.` (the platform's).
   */
  readonly jobs?: Readonly<Record<string, AppJob>>;
}

/** One of the app's own job kinds. */
export interface AppJob {
  readonly handler: (payload: unknown, ctx: AppContext) => Promise<void>;
  readonly policy?: Partial<JobPolicy>;
}

/** What the platform lends an app's processors and jobs besides the job itself. */
export interface AppServices {
  /**
   * Sending on WhatsApp as WHATSAPP_PHONE_NUMBER_ID, behind the Graph API's shared breaker;
   * null when WHATSAPP_ACCESS_TOKEN or WHATSAPP_PHONE_NUMBER_ID is unset.
   */
  readonly whatsapp: WhatsAppSender | null;
  readonly clock: Clock;
  /** The app's settings: the `APP_*` environment variables (`Config.appSettings`). */
  readonly settings: Readonly<Record<string, string>>;
  /** Outbound HTTP for the app's own calls (the runtime's fetch). */
  readonly fetch: typeof fetch;
}

/** A processor's or app job's context: the job's (transaction, flags, logger...) and the services. */
export type AppContext = JobContext & AppServices;

/** One of the app's feature flags. */
export interface AppFlag {
  /** What the flag switches, for the operator reading `feature_flags`. */
  readonly description: string;
  /** On until an operator switches it (default true). */
  readonly enabled?: boolean;
}

/** No app: the platform alone (intake, jobs marked processed, no USSD service). */
export const NO_APP: GatehouseApp = { name: 'none' };
