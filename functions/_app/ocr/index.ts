import type { AppContext } from '../../_shared/app.ts';
import { typed } from '../../_shared/db/types.ts';
import { PermanentJobError } from '../../_shared/queue/errors.ts';
import { jobErrorFor } from '../../_shared/whatsapp/index.ts';
import { CHOICES, VEHICLE_ADD_PREFIX } from '../bot/flows.ts';
import { httpEngine, type OcrEngine, tesseractEngine } from './engines.ts';
import { findPlate } from './plate.ts';

export { findPlate } from './plate.ts';
export { httpEngine, type OcrEngine, type OcrResult, tesseractEngine } from './engines.ts';

/** The app's job that reads the plate on a photo a user sent. */
export const READ_PLATE_JOB = 'app.read_plate';

/** Largest photo read (WhatsApp's image limit is 5 MB). */
export const MAX_PHOTO_BYTES = 5 * 1024 * 1024;

export interface ReadPlatePayload {
  readonly ocr_job_id: string;
  readonly media_id: string;
  /** Who sent the photo (Meta's digits) and the photo's message, to answer under it. */
  readonly to: string;
  readonly reply_to: string;
}

let engines: { key: string; engine: OcrEngine } | null = null;

/**
 * The process's OCR engine: an HTTP service when `APP_OCR_URL` is set, else tesseract.js
 * in process. One per process (tesseract's worker is reused between photos).
 */
export function ocrEngine(ctx: Pick<AppContext, 'settings' | 'fetch'>): OcrEngine {
  const url = ctx.settings.APP_OCR_URL ?? null;
  const key = url ?? 'tesseract';
  if (engines?.key !== key) {
    void engines?.engine.close();
    engines = {
      key,
      engine: url ? httpEngine(url, { fetch: ctx.fetch }) : tesseractEngine(),
    };
  }
  return engines.engine;
}

/** Lets go of the process's OCR engine (tests, shutdown). */
export async function closeOcrEngine(): Promise<void> {
  const current = engines;
  engines = null;
  await current?.engine.close();
}

function payloadOf(payload: unknown): ReadPlatePayload {
  const p = (payload ?? {}) as Record<string, unknown>;
  for (const field of ['ocr_job_id', 'media_id', 'to', 'reply_to'] as const) {
    if (typeof p[field] !== 'string' || p[field] === '') {
      throw new PermanentJobError(`payload has no ${field}`);
    }
  }
  return p as unknown as ReadPlatePayload;
}

/**
 * The read-plate job: fetches the photo from WhatsApp and reads it before it opens its
 * transaction (nothing is held while Meta or the OCR works), then stores the plate and the
 * confidence in `vehicle_ocr_jobs` (`done`, or `failed` with the reason) and queues the
 * answer to the user, offering to register the plate it read. A finished OCR job is left as
 * it is, so a repeated run answers nothing twice.
 */
export async function readPlate(payload: unknown, ctx: AppContext): Promise<void> {
  const job = payloadOf(payload);
  const whatsapp = ctx.whatsapp;
  if (!whatsapp) {
    throw new PermanentJobError('WhatsApp is not configured: the photo cannot be fetched');
  }
  let outcome: { status: 'done'; result: Record<string, unknown> } | {
    status: 'failed';
    error: string;
  };
  try {
    const media = await whatsapp.client.downloadMedia(job.media_id, { maxBytes: MAX_PHOTO_BYTES });
    const engine = ocrEngine(ctx);
    const read = await engine.recognize(media.bytes, media.mimeType);
    outcome = {
      status: 'done',
      result: {
        plate: findPlate(read.text),
        confidence: Math.round(read.confidence * 100) / 100,
        text: read.text.slice(0, 500),
        engine: engine.name,
      },
    };
  } catch (error) {
    const next = jobErrorFor(error);
    if (!(next instanceof PermanentJobError)) throw next;
    outcome = { status: 'failed', error: next.message };
  }

  const [row] = await ctx.tx.query<{ status: string }>(
    `select status from public.vehicle_ocr_jobs where id = $1 for update`,
    [typed(job.ocr_job_id, 'uuid')],
  );
  if (!row) throw new PermanentJobError(`OCR job ${job.ocr_job_id} does not exist`);
  if (row.status === 'done' || row.status === 'failed') return;
  await finish(ctx, job, outcome);
  const plate = outcome.status === 'done' ? outcome.result.plate as string | null : null;
  const confidence = outcome.status === 'done' ? Number(outcome.result.confidence) : 0;
  ctx.describe({ plate, confidence, ocr: outcome.status });
  await whatsapp.send(
    ctx.tx,
    job.to,
    outcome.status === 'failed'
      ? {
        type: 'text',
        text:
          'I could not open that photo. Please type the plate number instead (for example KAA 123A).',
      }
      : plate
      ? {
        type: 'buttons',
        body: `I read the plate ${plate} (confidence ${
          Math.round(confidence * 100)
        } %). Register it?`,
        buttons: [
          { id: `${VEHICLE_ADD_PREFIX}${plate}`, title: 'Register it' },
          { id: CHOICES.menu, title: 'Menu' },
        ],
      }
      : {
        type: 'text',
        text:
          'I could not read a plate on that photo. Please type the plate number instead (for example KAA 123A).',
      },
    { replyTo: job.reply_to, requestId: ctx.job.requestId },
  );
}

async function finish(
  ctx: AppContext,
  job: ReadPlatePayload,
  outcome: { status: 'done' | 'failed'; result?: unknown; error?: string },
): Promise<void> {
  await ctx.tx.query(
    `update public.vehicle_ocr_jobs set status = $2, result = $3, error = $4 where id = $1`,
    [
      typed(job.ocr_job_id, 'uuid'),
      typed(outcome.status, 'text'),
      typed(outcome.result ?? null, 'jsonb'),
      typed(outcome.error?.slice(0, 500) ?? null, 'text'),
    ],
  );
}
