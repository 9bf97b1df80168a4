import type { AppContext } from '../../_shared/app.ts';
import type { InboundEvent } from '../../_shared/jobs/inbound.ts';
import { enqueueJobs } from '../../_shared/queue/store.ts';
import { answer, type BotFlag } from './flows.ts';
import { readIncoming } from './incoming.ts';
import { saveConversation, standingOf } from './state.ts';
import { READ_PLATE_JOB, type ReadPlatePayload } from '../ocr/index.ts';

export { BOT_FLAGS, CHOICES, HELP_TEXT, mainMenu, normalizePlate } from './flows.ts';

/**
 * The bot's processor for `whatsapp.message`: finds (or makes) the sender's profile, reads
 * where their conversation stands, answers from it (flows in `flows.ts`, each behind its
 * flag, evaluated for this user), records where it stands now and sends the answer as a
 * reply to the message, all in the message's job: a failure rolls it all back and the
 * retry answers again. Duplicated deliveries never get here twice (intake keeps one event
 * per `wamid`).
 */
export async function handleWhatsAppMessage(event: InboundEvent, ctx: AppContext): Promise<void> {
  const incoming = readIncoming(event);
  // Nothing to answer (no sender to answer, or one that is no phone number): the event is
  // recorded and processed, and no operator needs to replay it.
  if (!incoming || !/^[1-9][0-9]{6,14}$/.test(incoming.from)) {
    ctx.describe({ ignored: incoming ? 'sender is not a phone number' : 'no sender or id' });
    return;
  }
  const { profileId, conversation } = await standingOf(ctx.tx, incoming.from, incoming.name);
  const result = await answer({
    tx: ctx.tx,
    profileId,
    name: incoming.name,
    conversation,
    enabled: async (flag: BotFlag) => (await ctx.flags.evaluate(flag, { subject: profileId })).on,
  }, incoming.content);
  // The plate is read once the ack is out, so its answer never overtakes "Got your photo".
  const readPlate = result.readPlate && {
    queue: 'app',
    kind: READ_PLATE_JOB,
    payload: {
      ocr_job_id: result.readPlate.ocrJobId,
      media_id: result.readPlate.mediaId,
      to: incoming.from,
      reply_to: incoming.id,
    } satisfies ReadPlatePayload,
    dedupeKey: `${READ_PLATE_JOB}:${result.readPlate.ocrJobId}`,
  };
  ctx.describe({
    received: incoming.content.kind,
    flow: result.next.flow,
    reply: result.reply.type,
  });
  // The conversation's save and the reply's job go out together (one round trip) and are
  // both awaited, whichever fails first: they commit, or roll back, with the message's job.
  const saving = saveConversation(ctx.tx, profileId, result.next, incoming.id);
  if (!ctx.whatsapp) {
    ctx.logger.warn(
      'reply not sent: WhatsApp sending is not configured (WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID)',
    );
    // Queued all the same: it dead-letters saying why, to be replayed once WhatsApp is set.
    await Promise.all([saving, readPlate ? enqueueJobs(ctx.tx, [readPlate]) : undefined]);
    return;
  }
  await Promise.all([
    saving,
    ctx.whatsapp.send(ctx.tx, incoming.from, result.reply, {
      replyTo: incoming.id,
      inboundEventId: event.id,
      requestId: event.requestId,
      afterSent: readPlate,
    }),
  ]);
}
