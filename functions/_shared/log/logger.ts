import { redactField, redactString } from './redact.ts';

/** Severity, lowest first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Structured context attached to a line; values go through `redact`. */
export type LogFields = Record<string, unknown>;

/** Receives one finished JSON line; the level lets a sink route warnings to stderr. */
export type LogSink = (line: string, level: LogLevel) => void;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines also carry `fields` (e.g. `request_id`). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  /** Lines below this level are dropped. */
  level: LogLevel;
  /** Where lines go; defaults to stdout for debug/info and stderr for warn/error. */
  sink?: LogSink;
  /** Fields written on every line. */
  base?: LogFields;
}

/** Narrows an untrusted string (an env var, a query parameter) to a `LogLevel`. */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** `time`, `level` and `msg` always describe the call itself; fields cannot overwrite them. */
const CORE_KEYS = new Set(['time', 'level', 'msg']);

function consoleSink(line: string, level: LogLevel): void {
  if (level === 'warn' || level === 'error') console.error(line);
  else console.log(line);
}

/**
 * Creates a logger that writes one JSON line per call:
 * `{"time": ISO-8601, "level", "msg", ...base, ...fields}`, redacted with `redact`.
 * Logging never throws into the caller.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: 'info', base: { service: 'gatehouse' } });
 * log.child({ request_id: 'abc' }).warn('signature mismatch', { provider: 'stripe' });
 * // {"time":"2026-01-01T00:00:00.000Z","level":"warn","msg":"signature mismatch",
 * //  "service":"gatehouse","request_id":"abc","provider":"stripe"}
 * ```
 */
export function createLogger(options: LoggerOptions): Logger {
  if (!isLogLevel(options.level)) {
    throw new RangeError(`log level must be one of ${LOG_LEVELS.join(', ')}`);
  }
  return new JsonLogger(RANK[options.level], options.sink ?? consoleSink, options.base ?? {});
}

function copyRedacted(record: LogFields, source: LogFields): void {
  for (const key in source) {
    if (!Object.hasOwn(source, key) || CORE_KEYS.has(key)) continue;
    const value = redactField(key, source[key]);
    // Dropped as JSON.stringify drops them, and so no earlier value of the key survives.
    if (value === undefined) delete record[key];
    else record[key] = value;
  }
}

/**
 * The time of a line, ISO-8601. Lines come many to a millisecond under load, and formatting
 * a date costs about as much as the rest of a short line's fields, so the last one is kept.
 */
let lastMs = Number.NaN;
let lastIso = '';
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/**
 * One logger and its base fields. A class, not closures: the request log makes a child per
 * request, and its methods are then shared instead of made five at a time.
 */
class JsonLogger implements Logger {
  constructor(
    private readonly threshold: number,
    private readonly sink: LogSink,
    private readonly base: LogFields,
  ) {}

  debug(message: string, fields?: LogFields): void {
    this.write('debug', message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.write('info', message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.write('warn', message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.write('error', message, fields);
  }
  child(fields: LogFields): Logger {
    return new JsonLogger(this.threshold, this.sink, { ...this.base, ...fields });
  }

  private write(level: LogLevel, message: string, fields: LogFields | undefined): void {
    if (RANK[level] < this.threshold) return;
    const time = isoNow();
    let line: string;
    try {
      // One pass: each field is redacted as it is copied (what `redact` of the whole record
      // would give, without a second copy), later sources winning as with a spread.
      const record: LogFields = { time, level, msg: redactString(String(message)) };
      copyRedacted(record, this.base);
      if (fields) copyRedacted(record, fields);
      line = JSON.stringify(record);
    } catch {
      // A field whose toJSON throws must not cost the line itself.
      line = JSON.stringify({
        time,
        level,
        msg: redactString(String(message)),
        log_error: 'fields could not be serialised',
      });
    }
    try {
      this.sink(line, level);
    } catch {
      // Nowhere left to report a failing sink; the request must go on.
    }
  }
}
