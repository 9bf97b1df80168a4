import type { Queryable } from '../db/types.ts';
import { PermanentJobError } from '../queue/errors.ts';
import { enqueueJobs } from '../queue/store.ts';
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
      const payload: WhatsAppSendPayload = {
        to,
        message,
        reply_to: options.replyTo ?? null,
        inbound_event_id: options.inboundEventId ?? null,
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
    await logOutboundMessage(ctx.tx, sent, {
      to: payload.to,
      phoneNumberId: sender.phoneNumberId,
      message: payload.message,
      inboundEventId: payload.inbound_event_id ?? null,
      requestId: ctx.job.requestId,
    });
  };
}
