/**
 * The one error the migration runner throws for a problem with the migrations themselves
 * (a bad file name, an edited landed file, a file that fails). The message names the
 * file(s); `files` lists them for callers that want to act on them.
 */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  /** The migration file(s) the error is about. */
  readonly files: readonly string[];
  /** SQLSTATE of the failing statement, when Postgres reported one. */
  readonly code: string | undefined;
  /** 1-based character offset of the error in the file, when Postgres reported one. */
  readonly position: number | undefined;

  constructor(
    message: string,
    options: { files: readonly string[]; code?: string; position?: number; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.files = options.files;
    this.code = options.code;
    this.position = options.position;
  }
}
