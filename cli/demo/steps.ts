/**
 * The demo's walk through the reference app: each step posts a signed delivery to the
 * running server and prints what happened, read from where it happened: the answer (acked),
 * the database (stored, job run, ride, payment, OCR) and the sandbox (reply sent).
 */
import type { Config } from '../../functions/_shared/config/index.ts';
import { typed } from '../../functions/_shared/db/types.ts';
import type { Db } from '../../functions/_shared/db/types.ts';
import { type EventTrace, traceEvent } from '../../functions/_shared/jobs/trace.ts';
import { WHATSAPP_BREAKER } from '../../functions/_shared/jobs/index.ts';
import type { SentByStub } from '../sandbox/graph-api.ts';
import type { RunningSandbox } from '../sandbox/index.ts';
import {
  type Delivery,
  type DemoUser,
  paypalCaptureCompleted,
  stripeCardDeclined,
  ussdRequest,
  whatsappMessage,
} from './deliveries.ts';

export interface DemoContext {
  readonly base: string;
  readonly config: Config;
  readonly db: Db;
  readonly sandbox: RunningSandbox;
  readonly user: DemoUser;
  /** The photo the sandbox serves as the user's image message. */
  readonly photo: Uint8Array;
  /** Whether the server takes PayPal certificates from the sandbox (else PayPal is skipped). */
  readonly paypal: boolean;
  readonly print: (line: string) => void;
}

/** A step that did not go as it should: what the demo saw instead. */
export class DemoStepFailed extends Error {
  override readonly name = 'DemoStepFailed';
}

/** How long a reply may take to reach the sandbox; the plate reading, longer. */
const REPLY_WAIT_MS = 10_000;
const OCR_WAIT_MS = 90_000;
const RIDE_FARE_CENTS = 1_250;

const show = (ctx: DemoContext, label: string, text: string) =>
  ctx.print(`   ${label.padEnd(9)} ${text}`);

const quote = (text: string, max = 160) =>
  `"${text.length > max ? `${text.slice(0, max - 1)}…` : text}"`;

/** Polls `read` until it gives a value (or `ms` passed: null). */
async function waitFor<T>(read: () => Promise<T | null>, ms: number): Promise<T | null> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (value !== null || Date.now() >= deadline) return value;
    await new Promise((next) => setTimeout(next, 50));
  }
}

async function post(ctx: DemoContext, delivery: Delivery) {
  const started = performance.now();
  const res = await fetch(`${ctx.base}/functions/v1${delivery.path}`, {
    method: 'POST',
    body: delivery.body,
    headers: delivery.headers,
    signal: AbortSignal.timeout(15_000),
  });
  const text = (await res.text()).trim();
  const ms = performance.now() - started;
  return { status: res.status, text, ms, requestId: res.headers.get('x-request-id') ?? '-' };
}

/** Posts an event delivery: prints the ack, then the stored event and its job's end. */
async function deliver(ctx: DemoContext, delivery: Delivery): Promise<number> {
  const answer = await post(ctx, delivery);
  const ackedAt = Date.now();
  const said = answer.text.includes('"accepted"') ? 'accepted' : answer.text;
  show(
    ctx,
    'acked',
    `${answer.status} ${said} in ${answer.ms.toFixed(0)} ms (request id ${answer.requestId})`,
  );
  if (answer.status !== 200 || said !== 'accepted') {
    throw new DemoStepFailed(`the server answered ${answer.status} ${answer.text}`);
  }
  const { provider, key } = delivery.event!;
  const trace = await waitFor(async () => {
    const event = await traceEvent(ctx.db, provider, key);
    return event && event.status !== 'accepted' ? event : null;
  }, REPLY_WAIT_MS) ?? await traceEvent(ctx.db, provider, key);
  if (!trace) throw new DemoStepFailed(`no ${provider} event ${key} was stored`);
  show(ctx, 'stored', `event ${trace.id}: ${provider} ${trace.type} ${key}`);
  const job = trace.jobs[0];
  show(ctx, 'job run', job ? jobLine(trace, job) : 'no job');
  if (trace.status !== 'processed') {
    throw new DemoStepFailed(`its job did not complete (${trace.status}; ${job?.lastError ?? ''})`);
  }
  return ackedAt;
}

function jobLine(trace: EventTrace, job: EventTrace['jobs'][number]): string {
  const took = job.at ? ` ${job.at.getTime() - trace.receivedAt.getTime()} ms after storing` : '';
  return `${job.kind} ${job.status} on attempt ${job.attempts} of ${job.maxAttempts},${took}`;
}

/** How a sent message reads: its type, text and choices. */
function describe(message: SentByStub): string {
  const body = message.body as {
    type: string;
    text?: { body: string };
    interactive?: {
      type: string;
      body: { text: string };
      action: {
        sections?: { rows: { title: string }[] }[];
        buttons?: { reply: { title: string } }[];
      };
    };
  };
  if (body.type === 'text') return `text ${quote(body.text?.body ?? '')}`;
  const interactive = body.interactive!;
  const choices = interactive.type === 'list'
    ? (interactive.action.sections ?? []).flatMap((section) => section.rows.map((r) => r.title))
    : (interactive.action.buttons ?? []).map((button) => button.reply.title);
  return `${interactive.type === 'list' ? 'list' : 'buttons'} ${quote(interactive.body.text)} ` +
    `[${choices.join(', ')}]`;
}

/**
 * Waits for `count` messages to the user matching `match` sent after `mark` (the sandbox's
 * count before the delivery), prints each with how long after the ack it arrived.
 */
async function replies(
  ctx: DemoContext,
  options: { mark: number; ackedAt: number; match: (m: SentByStub) => boolean; count?: number },
  waitMs = REPLY_WAIT_MS,
): Promise<SentByStub[]> {
  const count = options.count ?? 1;
  const seen = new Set<SentByStub>();
  const found: SentByStub[] = [];
  const pick = () =>
    ctx.sandbox.graph.sent.slice(options.mark).filter((m) =>
      (m.body as { to?: string }).to === ctx.user.phone && options.match(m)
    );
  const consider = (message: SentByStub) => {
    if (!seen.has(message) && pick().includes(message)) {
      seen.add(message);
      found.push(message);
      show(ctx, 'reply', `${describe(message)} (${Date.now() - options.ackedAt} ms after the ack)`);
    }
  };
  ctx.sandbox.graph.onSent = consider;
  for (const message of pick()) consider(message);
  await waitFor(() => Promise.resolve(found.length >= count ? true : null), waitMs);
  ctx.sandbox.graph.onSent = undefined;
  if (found.length < count) {
    throw new DemoStepFailed(
      `${found.length} of ${count} replies reached the sandbox within ${waitMs / 1000} s`,
    );
  }
  return found;
}

/** A WhatsApp message from the user: ack, event, job, then the replies threaded under it. */
async function whatsappStep(
  ctx: DemoContext,
  message: Record<string, unknown>,
  count = 1,
  waitMs = REPLY_WAIT_MS,
): Promise<SentByStub[]> {
  const delivery = whatsappMessage(ctx.config, ctx.user, message);
  const mark = ctx.sandbox.graph.sent.length;
  const ackedAt = await deliver(ctx, delivery);
  const wamid = delivery.event!.key;
  const threaded = (m: SentByStub) =>
    (m.body as { context?: { message_id?: string } }).context?.message_id === wamid;
  return await replies(ctx, { mark, ackedAt, match: threaded, count }, waitMs);
}

async function profileId(ctx: DemoContext): Promise<string> {
  const [row] = await ctx.db.query<{ id: string }>(
    'select id from public.profiles where wa_phone = $1 and wa_verified_at is not null',
    [typed(`+${ctx.user.phone}`, 'text')],
  );
  if (!row) throw new DemoStepFailed(`no profile for +${ctx.user.phone}`);
  return row.id;
}

async function rideOf(ctx: DemoContext, rideId: string) {
  const [ride] = await ctx.db.query<{ status: string; payment_status: string }>(
    'select status, payment_status from public.rides where id = $1',
    [typed(rideId, 'uuid')],
  );
  return ride ?? null;
}

/** A payment event for the ride: ack, event, job, the payment's state and the passenger's message. */
async function paymentStep(
  ctx: DemoContext,
  rideId: string,
  delivery: Delivery,
  paymentId: { provider: string; expect: string },
): Promise<void> {
  const mark = ctx.sandbox.graph.sent.length;
  const ackedAt = await deliver(ctx, delivery);
  const [payment] = await ctx.db.query<{
    provider_payment_id: string;
    status: string;
    failure_reason: string | null;
  }>(
    `select provider_payment_id, status, failure_reason from public.ride_payments
      where ride_id = $1 and provider = $2 order by updated_at desc limit 1`,
    [typed(rideId, 'uuid'), typed(paymentId.provider, 'text')],
  );
  const ride = await rideOf(ctx, rideId);
  show(
    ctx,
    'payment',
    payment
      ? `${paymentId.provider} ${payment.provider_payment_id} ${payment.status}` +
        `${payment.failure_reason ? ` (${payment.failure_reason})` : ''}; ride payment ${
          ride?.payment_status ?? '?'
        }`
      : `no ${paymentId.provider} payment recorded for the ride`,
  );
  if (payment?.status !== paymentId.expect) {
    throw new DemoStepFailed(
      `the payment is ${payment?.status ?? 'missing'}, not ${paymentId.expect}`,
    );
  }
  await replies(ctx, { mark, ackedAt, match: () => true });
}

/**
 * When earlier sends found no sandbox, the server's Graph API breaker is open and sends
 * wait until it may probe again (its `retry_at`): the demo waits for that moment first, so
 * its first reply is the probe that closes it.
 */
async function waitForGraphBreaker(ctx: DemoContext): Promise<void> {
  const [breaker] = await ctx.db.query<{ state: string; wait_ms: number }>(
    `select state, greatest(0, ceil(extract(epoch from retry_at - now()) * 1000))::int as wait_ms
       from public.circuit_breakers where name = $1`,
    [typed(WHATSAPP_BREAKER, 'text')],
  );
  if (!breaker || breaker.state !== 'open' || breaker.wait_ms === 0) return;
  ctx.print(
    `The server's breaker for the Graph API is open (its sends found no sandbox earlier); ` +
      `waiting ${Math.ceil(breaker.wait_ms / 1000)} s until it may try again.`,
  );
  await new Promise((next) => setTimeout(next, breaker.wait_ms + 100));
  ctx.print('');
}

/** Runs every step in order; throws {@link DemoStepFailed} at the first that goes wrong. */
export async function runSteps(ctx: DemoContext): Promise<number> {
  await waitForGraphBreaker(ctx);
  const steps: [string, () => Promise<void>][] = [];
  let rideId = '';
  steps.push(['WhatsApp: the user says "hi"', async () => {
    await whatsappStep(ctx, { type: 'text', text: { body: 'hi' } });
  }]);
  steps.push(['WhatsApp: a list reply, "Schedule a ride"', async () => {
    await whatsappStep(ctx, {
      type: 'interactive',
      interactive: {
        type: 'list_reply',
        list_reply: { id: 'ride.schedule', title: 'Schedule a ride' },
      },
    });
  }]);
  steps.push(['WhatsApp: a shared location as the pickup', async () => {
    await whatsappStep(ctx, {
      type: 'location',
      location: { latitude: -1.2864, longitude: 36.8172, name: 'Kenyatta Avenue' },
    });
  }]);
  steps.push(['WhatsApp: the destination, typed', async () => {
    await whatsappStep(ctx, { type: 'text', text: { body: 'JKIA Terminal 1A' } });
    const [ride] = await ctx.db.query<{ id: string; status: string; payment_status: string }>(
      `select id, status, payment_status from public.rides where passenger_user_id = $1
        order by created_at desc limit 1`,
      [typed(await profileId(ctx), 'uuid')],
    );
    if (!ride) throw new DemoStepFailed('no ride was stored for the user');
    rideId = ride.id;
    show(ctx, 'ride', `${ride.id} ${ride.status}, payment ${ride.payment_status}`);
  }]);
  steps.push(['WhatsApp: a photo of a number plate', async () => {
    const mediaId = `DEMO-MEDIA-${crypto.randomUUID().slice(0, 8)}`;
    ctx.sandbox.graph.media.set(mediaId, { bytes: ctx.photo, mimeType: 'image/jpeg' });
    await whatsappStep(
      ctx,
      { type: 'image', image: { id: mediaId, mime_type: 'image/jpeg' } },
      2,
      OCR_WAIT_MS,
    );
    const [ocr] = await ctx.db.query<
      { status: string; result: { plate?: string; confidence?: number } | null; ms: number }
    >(
      `select status, result, (extract(epoch from updated_at - created_at) * 1000)::int as ms
         from public.vehicle_ocr_jobs where user_id = $1 order by created_at desc limit 1`,
      [typed(await profileId(ctx), 'uuid')],
    );
    if (!ocr) throw new DemoStepFailed('no OCR job was stored');
    show(
      ctx,
      'OCR',
      `${ocr.status}: plate ${ocr.result?.plate ?? 'not found'}, confidence ${
        ocr.result?.confidence ?? '-'
      }, ${ocr.ms} ms from the job's start to its result`,
    );
  }]);
  steps.push(['Stripe: payment_intent.payment_failed for the ride (a declined card)', async () => {
    await paymentStep(ctx, rideId, stripeCardDeclined(ctx.config, rideId, RIDE_FARE_CENTS), {
      provider: 'stripe',
      expect: 'failed',
    });
  }]);
  steps.push(['PayPal: PAYMENT.CAPTURE.COMPLETED for the ride', async () => {
    if (!ctx.paypal) {
      show(
        ctx,
        'skipped',
        'PayPal is configured by hand (PAYPAL_WEBHOOK_ID), the sandbox cannot sign for it',
      );
      return;
    }
    const { body, key } = paypalCaptureCompleted(rideId, RIDE_FARE_CENTS);
    const headers = await ctx.sandbox.signPayPal(body);
    await paymentStep(ctx, rideId, {
      path: '/webhooks/paypal',
      body,
      headers,
      event: { provider: 'paypal', key },
    }, { provider: 'paypal', expect: 'succeeded' });
  }]);
  steps.push(['USSD: a session on *384*1#, "My rides"', async () => {
    const session = `demo-${crypto.randomUUID().slice(0, 8)}`;
    for (const input of ['', '2', '2*1']) {
      const answer = await post(ctx, ussdRequest(ctx.config, session, ctx.user.phone, input));
      show(
        ctx,
        input === '' ? 'dial' : `"${input}"`,
        `${answer.status} ${answer.text.replaceAll('\n', ' | ')} (${answer.ms.toFixed(0)} ms)`,
      );
      if (answer.status !== 200 || !/^(CON|END) /.test(answer.text)) {
        throw new DemoStepFailed(`the USSD callback answered ${answer.status} ${answer.text}`);
      }
    }
  }]);

  for (const [i, [title, run]] of steps.entries()) {
    ctx.print(`${i + 1}. ${title}`);
    await run();
  }
  return steps.length;
}
