import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ClientErrorStatusCode, ServerErrorStatusCode } from 'hono/utils/http-status';
import { DatabaseUnavailableError } from '../db/types.ts';
import type { AppEnv } from './env.ts';

/** The statuses a problem response may carry. */
export type ErrorStatusCode = ClientErrorStatusCode | ServerErrorStatusCode;

export interface ProblemInit {
  /** Short summary of the problem type; defaults to the status text. Pair it with `type`. */
  title?: string;
  /** Human-readable explanation of this occurrence, shown to the client. */
  detail?: string;
  /** URI identifying the problem type; defaults to `about:blank`. */
  type?: string;
  /** Extra members of the problem object, e.g. `{ errors: [...] }` for a validation failure. */
  extensions?: Record<string, unknown>;
  /** Response headers, e.g. `{ 'Retry-After': '30' }` for a 429. */
  headers?: Record<string, string>;
  /**
   * Whether title, detail, type and extensions may reach the client. Defaults to true below
   * 500 and false from 500: a server error's text usually describes our internals, so it goes
   * to the log and the client gets a generic body unless the thrower vouches for it.
   */
  expose?: boolean;
  /** The underlying error, logged with this one. */
  cause?: unknown;
}

/**
 * The one error class handlers throw to answer with an RFC 9457 problem.
 *
 * @example
 * ```ts
 * throw new ProblemError(422, { detail: 'amount must be positive' });
 * throw new ProblemError(429, { detail: 'rate limited', headers: { 'Retry-After': '2' } });
 * throw new ProblemError(503, { detail: 'intake for stripe is switched off', expose: true });
 * ```
 */
export class ProblemError extends Error {
  override readonly name = 'ProblemError';
  readonly status: ErrorStatusCode;
  readonly title: string | undefined;
  readonly detail: string | undefined;
  readonly type: string | undefined;
  readonly extensions: Readonly<Record<string, unknown>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly expose: boolean;

  constructor(status: ErrorStatusCode, init: ProblemInit = {}) {
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`ProblemError status must be 400-599, got ${status}`);
    }
    super(init.detail ?? init.title ?? statusText(status), { cause: init.cause });
    this.status = status;
    this.title = init.title;
    this.detail = init.detail;
    this.type = init.type;
    this.extensions = init.extensions ?? {};
    this.headers = init.headers ?? {};
    this.expose = init.expose ?? status < 500;
  }
}

/** An RFC 9457 problem object as Gatehouse writes it. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: ErrorStatusCode;
  detail?: string;
  /** The request path (never the query string, which may carry tokens). */
  instance: string;
  request_id: string;
  [extension: string]: unknown;
}

const STATUS_TEXT: Partial<Record<ErrorStatusCode, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  422: 'Unprocessable Content',
  423: 'Locked',
  425: 'Too Early',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The reason phrase for an error status (RFC 9110 names). */
export function statusText(status: ErrorStatusCode): string {
  return STATUS_TEXT[status] ?? (status < 500 ? 'Client Error' : 'Server Error');
}

/** Seconds a client should wait before retrying while the database is unreachable. */
const DATABASE_RETRY_AFTER_SECONDS = 5;

const GENERIC_SERVER_DETAIL =
  'The server could not complete the request. Quote the request_id when reporting this.';

/** Turns anything a handler threw into the problem to answer with. */
export function problemFromError(error: unknown): ProblemError {
  if (error instanceof ProblemError) return error;
  if (error instanceof DatabaseUnavailableError) {
    return new ProblemError(503, {
      detail: 'The database is unavailable. Retry later.',
      headers: { 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) },
      expose: true,
      cause: error,
    });
  }
  if (error instanceof HTTPException) {
    const status = isErrorStatus(error.status) ? error.status : 500;
    return new ProblemError(status, {
      // Hono's own middleware (validator, bearer-auth) word these messages for clients.
      detail: error.message || undefined,
      headers: error.res ? headersWorthKeeping(error.res.headers) : {},
      cause: error,
    });
  }
  return new ProblemError(500, { cause: error });
}

function isErrorStatus(status: number): status is ErrorStatusCode {
  return Number.isInteger(status) && status >= 400 && status <= 599;
}

/** Keeps e.g. `WWW-Authenticate` from an HTTPException's prepared response, not its body's. */
function headersWorthKeeping(headers: Headers): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of headers) {
    if (name !== 'content-type' && name !== 'content-length') kept[name] = value;
  }
  return kept;
}

/** Builds the problem object a client sees; unexposed problems get only generic text. */
export function problemBody(
  problem: ProblemError,
  instance: string,
  requestId: string,
): ProblemDetails {
  const exposed = problem.expose;
  const detail = exposed
    ? problem.detail
    : problem.status >= 500
    ? GENERIC_SERVER_DETAIL
    : undefined;
  return {
    // Extensions first so they can never overwrite a standard member.
    ...(exposed ? problem.extensions : {}),
    type: (exposed && problem.type) || 'about:blank',
    title: (exposed && problem.title) || statusText(problem.status),
    status: problem.status,
    ...(detail === undefined ? {} : { detail }),
    instance,
    request_id: requestId,
  };
}

/** Writes `problem` as an `application/problem+json` response on `c`. */
export function renderProblem(
  c: Context<AppEnv>,
  problem: ProblemError,
): Response {
  for (const [name, value] of Object.entries(problem.headers)) c.header(name, value);
  c.header('Content-Type', 'application/problem+json');
  const body = problemBody(problem, c.req.path, c.get('requestId'));
  return c.body(JSON.stringify(body), problem.status);
}

/** A `Retry-After` value, in whole seconds (at least 1), for a wait of `ms`. */
export function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}

/** One thing a request got wrong, as a validator reports it. */
export interface InputIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/**
 * The 400 for a request that does not fit its schema: every issue in `detail`
 * (`field: message; ...`) and in `errors: [{path, message}]`; an issue with no path is
 * named after `where` (`body`, `query`, ...).
 *
 * @example
 * const parsed = schema.safeParse(body);
 * if (!parsed.success) throw invalidInput(parsed.error.issues, 'body');
 */
export function invalidInput(issues: readonly InputIssue[], where: string): ProblemError {
  const errors = issues.map((issue) => ({
    path: issue.path.map(String).join('.') || where,
    message: issue.message,
  }));
  return new ProblemError(400, {
    detail: errors.map((error) => `${error.path}: ${error.message}`).join('; '),
    extensions: { errors },
  });
}
