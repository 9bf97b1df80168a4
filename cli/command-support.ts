/**
 * What the operator commands (`queue`, `dlq`, `worker`, `events`) share: their options, a
 * database opened for one command, `--since` durations, usage errors and plain tables.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Env, parseConfig } from '../functions/_shared/config/index.ts';
import type { GatehouseApp } from '../functions/_shared/app.ts';
import type { Db } from '../functions/_shared/db/types.ts';
import { openDatabase } from './database.ts';

export interface CommandOptions {
  readonly env: Env;
  readonly projectRoot: string;
  readonly print?: (line: string) => void;
  /** Who replays, for the audit log (default `cli:<USER>`). */
  readonly actor?: string;
  /** Stops `gatehouse worker` (SIGINT/SIGTERM in the real command). */
  readonly signal?: AbortSignal;
  /** The app whose processors `gatehouse worker` runs (`functions/_app`'s); none by default. */
  readonly app?: GatehouseApp;
}

const UNITS: Record<string, [name: string, seconds: number]> = {
  s: ['seconds', 1],
  m: ['minutes', 60],
  h: ['hours', 3_600],
  d: ['days', 86_400],
  w: ['weeks', 604_800],
};

/** Further back than this is no filter at all, and `now() - interval` would overflow. */
const MAX_SINCE_SECONDS = 100 * 366 * 86_400;

/**
 * `30m`, `1h`, `7d` → a Postgres interval (`30 minutes`). Throws a usage error otherwise.
 */
export function parseSince(text: string): string {
  const match = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  if (!match) {
    throw new UsageError(
      `--since must be a number and a unit (s, m, h, d, w), like 30m or 1h; got "${text}"`,
    );
  }
  const count = Number(match[1]);
  const [unit, seconds] = UNITS[match[2]!]!;
  if (count * seconds > MAX_SINCE_SECONDS) {
    throw new UsageError(`--since reaches back at most 100 years; got "${text}"`);
  }
  // `1 hour`, not `1 hours`: the text is echoed back to the operator.
  return `${count} ${count === 1 ? unit.slice(0, -1) : unit}`;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A mistake in the command line (ours, or `parseArgs`'s): print it, exit 2. */
export function isUsageError(error: unknown): boolean {
  return error instanceof UsageError ||
    String((error as { code?: string } | null)?.code ?? '').startsWith('ERR_PARSE_ARGS');
}

export async function withDatabase<T>(
  options: CommandOptions,
  print: (line: string) => void,
  fn: (db: Db, config: ReturnType<typeof parseConfig>, jobsDb: Db) => Promise<T>,
): Promise<T> {
  const config = parseConfig(options.env);
  const local = { ...config, dataDir: resolve(options.projectRoot, config.dataDir) };
  const database = await openDatabase(local, { warn: print, viaRunningServer: true });
  try {
    // Operator commands wait as long as their work takes; the worker runs jobs on the job
    // engine's pool, with its bounds.
    return await fn(database.adminDb, local, database.jobsDb);
  } finally {
    await database.close();
  }
}

export function ageText(ms: number): string {
  if (ms <= 0) return '-';
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1_000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}

export function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

/**
 * Whether `--<name>`, the command's only flag, is among `args`; null (after printing the
 * problem and `usage`) when anything else is there.
 */
export function booleanFlag(
  args: readonly string[],
  name: string,
  usage: string,
  print: (line: string) => void,
): boolean | null {
  try {
    const { values } = parseArgs({
      args: [...args],
      options: { [name]: { type: 'boolean', default: false } },
      strict: true,
    });
    return values[name] === true;
  } catch (error) {
    print(`${(error as Error).message}\n${usage}`);
    return null;
  }
}

/** `--limit` as given, or `fallback`: a whole number from 1 to 10,000. */
export function parseLimit(text: string | undefined, fallback = 50): number {
  const limit = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    throw new UsageError('--limit must be a whole number from 1 to 10000');
  }
  return limit;
}

/** Runs a command; a mistake in its command line is printed and exits 2. */
export async function guardUsage(
  print: (line: string) => void,
  run: () => Promise<number>,
): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (!isUsageError(error)) throw error;
    print((error as Error).message);
    return 2;
  }
}

/**
 * Prints a listing: JSON with `json`, else `none` when empty, else a table (`header`, one
 * `row` per item) and the `footer` line. Returns the exit code, 0.
 */
export function printListing<T>(
  print: (line: string) => void,
  items: readonly T[],
  listing: {
    readonly json: boolean;
    readonly none: string;
    readonly header: string[];
    readonly row: (item: T) => string[];
    readonly footer: string;
  },
): number {
  if (listing.json) print(JSON.stringify(items, null, 2));
  else if (items.length === 0) print(listing.none);
  else {
    for (const line of table([listing.header, ...items.map(listing.row)])) print(line);
    print(listing.footer);
  }
  return 0;
}
