/**
 * Start-up failures a person can act on: one line saying what is wrong and what to do,
 * printed by the CLI without a stack trace (cli/deno/main.ts), exit code 1.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

function codeOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 4; depth += 1) {
    const { code, name } = current as { code?: unknown; name?: unknown };
    if (typeof code === 'string') return code;
    if (name === 'ConnectionRefused') return 'ECONNREFUSED';
    if (name === 'AddrInUse') return 'EADDRINUSE';
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function messageOf(error: unknown): string {
  let current = error;
  while ((current as { cause?: unknown })?.cause) current = (current as { cause: unknown }).cause;
  return (current as { message?: unknown })?.message?.toString() ?? String(current);
}

/**
 * The database the server was pointed at could not be used before start-up. `where` is the
 * URL without its password.
 */
export function databaseStartupError(error: unknown, where: string): StartupError {
  const code = codeOf(error);
  const name = /\/([^/?]+)$/.exec(where)?.[1] ?? 'the database';
  const fix = 'check DATABASE_URL (or unset it to use the embedded database)';
  switch (code) {
    case 'ECONNREFUSED':
      return new StartupError(
        `cannot reach the database at ${where}: connection refused. Is Postgres running there? ${fix}`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new StartupError(`cannot resolve the database host of ${where}; ${fix}`);
    case 'CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return new StartupError(`the database at ${where} did not answer in time; ${fix}`);
    case '3D000':
      return new StartupError(
        `database "${name}" does not exist on ${where.replace(/\/[^/]*$/, '')}: create it ` +
          `(createdb ${name}) or ${fix}`,
      );
    case '28P01':
    case '28000':
      return new StartupError(
        `the database at ${where} refused the user or password in DATABASE_URL (${
          messageOf(error)
        })`,
      );
    case '57P03':
      return new StartupError(
        `the database at ${where} is starting up or shutting down; try again in a moment`,
      );
    default:
      return new StartupError(`cannot use the database at ${where}: ${messageOf(error)}`);
  }
}

/**
 * The database answered at first, then went away while start-up was `doing` something
 * (applying migrations, ...): a restart, a terminated connection, a timeout. What was
 * applied stays applied; starting again picks up where it stopped.
 */
export function databaseLostStartupError(error: unknown, where: string, doing: string) {
  return new StartupError(
    `lost the database at ${where} while ${doing} (${messageOf(error)}): ` +
      'check that it is up and start again',
  );
}

/** The local server's port is taken (checked before the database is touched). */
export function portStartupError(error: unknown, host: string, port: number): StartupError | null {
  if (codeOf(error) !== 'EADDRINUSE') return null;
  return new StartupError(
    `port ${port} on ${host} is already in use (another Gatehouse or \`supabase start\`?); ` +
      'stop that process or set PORT to a free port',
  );
}

/**
 * The data folder (development secrets, the embedded database's lock) could not be
 * written: not a folder, not writable, a read-only disk. Null for any other error.
 */
export function dataDirStartupError(error: unknown, dataDir: string): StartupError | null {
  const reasons: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EROFS: 'the disk is read-only',
    EEXIST: 'a file has that name',
    ENOTDIR: 'a file stands in its path',
    ENOSPC: 'the disk is full',
  };
  const reason = reasons[codeOf(error) ?? ''];
  if (reason === undefined) return null;
  return new StartupError(
    `cannot write to the data folder ${dataDir}: ${reason}; set GATEHOUSE_DATA_DIR to a ` +
      'folder you can write to',
  );
}
