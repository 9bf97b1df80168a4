/// <reference types="./tesseract-data.d.ts" />
import { PermanentJobError } from '../../_shared/queue/errors.ts';

/** What an OCR engine read from an image: its text and a confidence from 0 to 1. */
export interface OcrResult {
  readonly text: string;
  readonly confidence: number;
}

export interface OcrEngine {
  /** `tesseract` or `http`, recorded with each result. */
  readonly name: string;
  recognize(image: Uint8Array, mimeType: string): Promise<OcrResult>;
  /** Lets go of what the engine holds (tesseract's worker). */
  close(): Promise<void>;
}

/** The characters a plate has: the OCR reads nothing else. */
const PLATE_CHARACTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -';

/**
 * OCR in process with tesseract.js and the English model shipped in the
 * `@tesseract.js-data/eng` package (nothing is downloaded at run time). One worker per
 * process, made on first use and let go after `idleMs` without work, so an idle process
 * holds no model in memory.
 */
export function tesseractEngine(options: { idleMs?: number } = {}): OcrEngine {
  const idleMs = options.idleMs ?? 60_000;
  type Worker = Awaited<ReturnType<typeof import('tesseract.js')['createWorker']>>;
  let worker: Promise<Worker> | null = null;
  let idle: ReturnType<typeof setTimeout> | undefined;
  let running = 0;

  const start = async (): Promise<Worker> => {
    const [{ createWorker }, eng] = await Promise.all([
      import('tesseract.js'),
      import('@tesseract.js-data/eng'),
    ]);
    const data = eng.default;
    const made = await createWorker('eng', 1, {
      langPath: data.langPath,
      gzip: true,
      cacheMethod: 'none',
    });
    await made.setParameters({ tessedit_char_whitelist: PLATE_CHARACTERS });
    return made;
  };

  const close = async () => {
    clearTimeout(idle);
    const current = worker;
    worker = null;
    if (current) await (await current.catch(() => null))?.terminate();
  };

  return {
    name: 'tesseract',
    async recognize(image) {
      clearTimeout(idle);
      running += 1;
      try {
        worker ??= start();
        const ready = await worker.catch((error) => {
          worker = null;
          throw error;
        });
        const { data } = await ready.recognize(
          // tesseract.js takes a Node Buffer or browser image types; a Uint8Array view works
          // in both runtimes once wrapped.
          globalThis.Buffer ? globalThis.Buffer.from(image) : (image as never),
        );
        return {
          text: data.text ?? '',
          confidence: Math.max(0, Math.min(1, data.confidence / 100)),
        };
      } finally {
        running -= 1;
        if (running === 0) idle = setTimeout(() => void close(), idleMs);
      }
    },
    close,
  };
}

/**
 * OCR by an HTTP service (`APP_OCR_URL`): the image is POSTed as the body with its content
 * type; the service answers `{"text": "...", "confidence": 0..1}` (0–100 is read as a
 * percentage). A 4xx is permanent; a 5xx, a timeout or no answer is retried.
 */
export function httpEngine(
  url: string,
  options: { fetch?: typeof fetch; timeoutMs?: number } = {},
): OcrEngine {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 30_000;
  return {
    name: 'http',
    async recognize(image, mimeType) {
      let res: Response;
      try {
        res = await doFetch(url, {
          method: 'POST',
          headers: { 'content-type': mimeType },
          body: image as BodyInit,
          redirect: 'error',
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        throw new Error(
          `OCR service unreachable (${error instanceof Error ? error.name : 'error'})`,
        );
      }
      const body = await res.json().catch(() => null) as
        | { text?: unknown; confidence?: unknown }
        | null;
      if (res.status >= 400 && res.status < 500) {
        throw new PermanentJobError(`OCR service refused the image (${res.status})`);
      }
      if (!res.ok || typeof body?.text !== 'string') {
        throw new Error(`OCR service failed (${res.status})`);
      }
      const raw = Number(body.confidence);
      const confidence = !Number.isFinite(raw) ? 0 : raw > 1 ? raw / 100 : raw;
      return { text: body.text, confidence: Math.max(0, Math.min(1, confidence)) };
    },
    close: () => Promise.resolve(),
  };
}
