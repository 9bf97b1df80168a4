/** An answer that was not a 2xx, with the problem document's words when there was one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string | null,
    readonly body: unknown = null,
  ) {
    super(detail ? `${title}: ${detail}` : title);
  }

  /** The database or the server is briefly unavailable: worth retrying. */
  get transient(): boolean {
    return this.status === 0 || this.status === 429 || this.status === 503;
  }
}

/** A field the API refused, from a 400's `errors`. */
export interface FieldError {
  readonly path: string;
  readonly message: string;
}

/** The `errors` of a 400 problem (what did not fit the schema), if it has any. */
export function fieldErrors(error: unknown): FieldError[] {
  if (!(error instanceof ApiError)) return [];
  const errors = (error.body as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors)) return [];
  return errors.flatMap((item) =>
    item && typeof item === 'object' && typeof item.message === 'string'
      ? [{ path: String(item.path ?? ''), message: item.message }]
      : []
  );
}

/** The body as JSON when it is JSON, else as text (null when empty). */
async function bodyOf(response: Response): Promise<unknown> {
  const text = await response.text().catch(() => '');
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

/**
 * A refusal as an {@link ApiError}, with the `application/problem+json` document's `title`
 * and `detail` when the body is one, and the body itself (field `errors` and the like).
 */
export async function problemOf(response: Response): Promise<ApiError> {
  const body = await bodyOf(response);
  const problem = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  return new ApiError(
    response.status,
    typeof problem.title === 'string' ? problem.title : `HTTP ${response.status}`,
    typeof problem.detail === 'string' ? problem.detail : null,
    body,
  );
}

export interface RequestOptions {
  readonly method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal;
}

/**
 * A JSON client for one function (`<functionsUrl>/admin`, `<functionsUrl>/api`): sends the
 * signed-in user's access token, reads `application/problem+json` refusals into
 * {@link ApiError}s, and answers the parsed body (null for 204).
 */
export function jsonClient(
  base: string,
  token: () => Promise<string | null>,
  /** Called when the API answers 401: the session is gone (signed out elsewhere, revoked). */
  onUnauthorized?: () => void,
) {
  return async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
    const bearer = await token();
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method: options.method ?? 'GET',
        headers,
        body: options.body === undefined ? null : JSON.stringify(options.body),
        signal: options.signal ?? null,
      });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw new ApiError(0, 'Network error', 'the server could not be reached');
    }
    if (response.status === 401) onUnauthorized?.();
    if (!response.ok) throw await problemOf(response);
    return await bodyOf(response) as T;
  };
}

export type JsonClient = ReturnType<typeof jsonClient>;
