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

/** The local server's port is taken (checked before the database is touched). */
export function portStartupError(error: unknown, host: string, port: number): StartupError | null {
  if (codeOf(error) !== 'EADDRINUSE') return null;
  return new StartupError(
    `port ${port} on ${host} is already in use (another Gatehouse or \`supabase start\`?); ` +
      'stop that process or set PORT to a free port',
  );
}
