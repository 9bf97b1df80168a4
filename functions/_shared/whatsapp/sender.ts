import type { Queryable } from '../db/types.ts';
import { PermanentJobError } from '../queue/errors.ts';
import { enqueueJobs, type NewJob } from '../queue/store.ts';
import type { JobHandler } from '../queue/types.ts';
import type { OutboundMessage, WhatsAppClient } from './client.ts';
import { jobErrorFor } from './errors.ts';
import { messageBody } from './message.ts';
import { logOutboundMessage } from './log.ts';

/** The job that sends one WhatsApp message (queue `whatsapp`). */
export const WHATSAPP_SEND_KIND = 'whatsapp.send';
export const WHATSAPP_SEND_QUEUE = 'whatsapp';

export interface WhatsAppSendPayload {
  readonly to: string;
  readonly message: OutboundMessage;
  readonly reply_to?: string | null;
  readonly inbound_event_id?: number | null;
  /** Enqueued by the send once Meta has accepted the message (see `afterSent`). */
  readonly after_sent?: AfterSentJob | null;
}

/**
 * A job the send enqueues in its own transaction once Meta has accepted the message: work
 * whose answer must not reach the user before this message does (the plate read from a
 * photo after "Got your photo"). A message the send job gives up on (dead-lettered) starts
 * nothing until it is replayed and sent.
 */
export interface AfterSentJob {
  readonly queue?: string;
  readonly kind: string;
  readonly payload?: unknown;
  readonly max_attempts?: number;
  /** As `NewJob.dedupeKey`: a retried send enqueues it once. */
  readonly dedupe_key?: string;
}

/**
 * Sending as the configured business number from a job, through an outbox: `send`
 * enqueues the message in the caller's transaction, so it goes out exactly when the
 * caller's work commits (never for work that rolled back), and a `whatsapp.send` job sends
 * it: the Graph API call (behind the shared breaker) happens before that job opens its
 * transaction, so no transaction is held open across the network, and a failed send retries
 * only the send, never the work that asked for it.
 */
export interface WhatsAppSender {
  /** WHATSAPP_PHONE_NUMBER_ID: the number messages go out from. */
  readonly phoneNumberId: string;
  /** The client itself, for what is not a message (media downloads). */
  readonly client: WhatsAppClient;
  /** Queues `message` to `to` in `tx`; resolves to the send job's id. */
  send(
    tx: Queryable,
    to: string,
    message: OutboundMessage,
    options?: {
      replyTo?: string | null;
      inboundEventId?: number | null;
      /** The request the message answers, carried into the send's logs. */
      requestId?: string | null;
      /**
       * A job to start once this message is out, never before (its dedupe key is required:
       * a send retried after Meta accepted the message must not start it twice).
       */
      afterSent?: Omit<NewJob, 'runAt' | 'requestId' | 'priority'> & { dedupeKey: string };
    },
  ): Promise<number>;
}

export function createWhatsAppSender(
  client: WhatsAppClient,
  phoneNumberId: string,
): WhatsAppSender {
  return {
    phoneNumberId,
    client,
    async send(tx, to, message, options = {}) {
      // Past Meta's limits: a TypeError here, in the work that built it, not a retried send.
      messageBody(to, message);
      const next = options.afterSent;
      if (next && (typeof next.kind !== 'string' || next.kind === '' || !next.dedupeKey)) {
        throw new TypeError('afterSent needs a kind and a dedupe key');
      }
      const payload: WhatsAppSendPayload = {
        to,
        message,
        reply_to: options.replyTo ?? null,
        inbound_event_id: options.inboundEventId ?? null,
        ...(next
          ? {
            after_sent: {
              queue: next.queue,
              kind: next.kind,
              payload: next.payload,
              max_attempts: next.maxAttempts,
              dedupe_key: next.dedupeKey,
            },
          }
          : {}),
      };
      const [id] = await enqueueJobs(tx, [{
        queue: WHATSAPP_SEND_QUEUE,
        kind: WHATSAPP_SEND_KIND,
        payload,
        maxAttempts: 8,
        requestId: options.requestId ?? null,
      }]);
      return id!;
    },
  };
}

/**
 * The `whatsapp.send` job: sends the message, then records it in `whatsapp_logs` in the
 * job's transaction. Meta's errors become retries or a dead letter (`jobErrorFor`); with no
 * sender configured the job is dead-lettered, to be replayed once it is.
 */
export function whatsappSendHandler(
  sender: WhatsAppSender | null,
): JobHandler<WhatsAppSendPayload> {
  return async (payload, ctx) => {
    if (!sender) {
      throw new PermanentJobError(
        'WhatsApp sending is not configured (WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID)',
      );
    }
    if (typeof payload?.to !== 'string' || typeof payload.message?.type !== 'string') {
      throw new PermanentJobError('payload needs to and message');
    }
    ctx.describe({ to_suffix: payload.to.slice(-4), message_type: payload.message.type });
    let sent;
    try {
      // Before the job's transaction is opened: nothing is held while Meta answers.
      sent = await sender.client.send(payload.to, payload.message, {
        replyTo: payload.reply_to ?? undefined,
      });
    } catch (error) {
      if (error instanceof TypeError) throw new PermanentJobError(error.message);
      throw jobErrorFor(error);
    }
    const logging = logOutboundMessage(ctx.tx, sent, {
      to: payload.to,
      phoneNumberId: sender.phoneNumberId,
      message: payload.message,
      inboundEventId: payload.inbound_event_id ?? null,
      requestId: ctx.job.requestId,
    });
    const next = payload.after_sent;
    if (!next || typeof next.kind !== 'string') {
      await logging;
      return;
    }
    // Due at once and enqueued through the job's transaction: a follow-up, claimed as this
    // send commits and run next. It goes out with the log (one round trip); both are
    // awaited, and either failing rolls the job back.
    await Promise.all([
      logging,
      enqueueJobs(ctx.tx, [{
        queue: next.queue,
        kind: next.kind,
        payload: next.payload,
        maxAttempts: next.max_attempts,
        dedupeKey: next.dedupe_key,
        requestId: ctx.job.requestId,
      }]),
    ]);
    ctx.describe({ after_sent: next.kind });
  };
}
