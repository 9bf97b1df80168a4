import { parseArgs } from 'node:util';
import type { Row } from '../functions/_shared/db/types.ts';
import { typed } from '../functions/_shared/db/types.ts';
import {
  ENDPOINT_STATUSES,
  endpointHealth,
  type EndpointStatus,
} from '../functions/_shared/outbound/endpoints.ts';
import { pageEndpoints } from '../functions/_shared/outbound/listing.ts';
import {
  countReplayable,
  REPLAY_BATCH_SIZE,
  replayBatches,
  type ReplayRange,
} from '../functions/_shared/outbound/replay.ts';
import {
  ageText,
  type CommandOptions,
  guardUsage,
  parseLimit,
  parseSince,
  table,
  UsageError,
  withDatabase,
} from './command-support.ts';

const USAGE = 'usage: gatehouse webhooks list [--status active|paused|disabled] [--limit n] ' +
  '[--json]\n' +
  '       gatehouse webhooks replay --endpoint <id> --since 2h [--until <ISO time>] ' +
  '[--include-succeeded] [--json]';

const LIST_OPTIONS = {
  status: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

const REPLAY_OPTIONS = {
  endpoint: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  'include-succeeded': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** An ISO 8601 time with a zone: `2026-12-07T09:00:00Z`, `2026-12-07T10:00:00+01:00`. */
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,6})?)?(Z|[+-]\d\d:\d\d)$/;

export interface WebhooksCommandOptions extends CommandOptions {
  /** The terminal, when output goes to one: the replay's progress bar is drawn in place. */
  readonly terminal?: { write(text: string): void };
  /** Messages a replay batch puts back at most (REPLAY_BATCH_SIZE). */
  readonly batchSize?: number;
}

/**
 * `gatehouse webhooks list|replay`: the outbound endpoints with a health line each, and
 * replays of an endpoint's failed messages (and succeeded ones with `--include-succeeded`)
 * by the time their events were emitted, in audited batches. Exit code 1 when the endpoint
 * does not exist or the replay was stopped, 2 for a mistake in the command line.
 */
export async function runWebhooksCommand(
  args: readonly string[],
  options: WebhooksCommandOptions,
): Promise<number> {
  const print = options.print ?? ((line: string) => console.log(line));
  const [sub, ...rest] = args;
  return await guardUsage(print, async () => {
    if (sub === 'list') {
      const { values } = parseArgs({ args: [...rest], options: LIST_OPTIONS, strict: true });
      return await list(values, options, print);
    }
    if (sub === 'replay') {
      const { values } = parseArgs({ args: [...rest], options: REPLAY_OPTIONS, strict: true });
      return await replay(values, options, print);
    }
    throw new UsageError(USAGE);
  });
}

async function list(
  values: { status?: string; limit?: string; json?: boolean },
  options: CommandOptions,
  print: (line: string) => void,
): Promise<number> {
  const status = values.status;
  if (status !== undefined && !(ENDPOINT_STATUSES as readonly string[]).includes(status)) {
    throw new UsageError(
      `--status must be one of ${ENDPOINT_STATUSES.join(', ')}; got "${status}"`,
    );
  }
  const limit = parseLimit(values.limit, 100);
  return await withDatabase(options, print, async (db) => {
    const page = await pageEndpoints(db, { status: status as EndpointStatus | undefined }, {
      limit,
    });
    const endpoints = await Promise.all(page.items.map(async (endpoint) => ({
      endpoint,
      health: (await endpointHealth(db, String(endpoint.id)))!,
    })));
    if (values.json) {
      print(
        JSON.stringify(endpoints.map(({ endpoint, health }) => ({ ...endpoint, health })), null, 2),
      );
      return 0;
    }
    if (endpoints.length === 0) {
      print(status ? `no ${status} webhook endpoints` : 'no webhook endpoints');
      return 0;
    }
    const rows = table([
      ['id', 'status', 'url', 'events'],
      ...endpoints.map(({ endpoint }) => [
        String(endpoint.id),
        statusText(endpoint),
        String(endpoint.url),
        (endpoint.event_types as string[]).join(', '),
      ]),
    ]);
    print(rows[0]!);
    endpoints.forEach(({ health }, i) => {
      print(rows[i + 1]!);
      print(`  health: ${healthLine(health)}`);
    });
    print(`${endpoints.length} endpoint(s)${page.nextCursor ? `, the newest ${limit}` : ''}`);
    return 0;
  });
}

function statusText(endpoint: Row): string {
  const reason = endpoint.status_reason;
  return reason ? `${endpoint.status} (${reason})` : String(endpoint.status);
}

type Health = NonNullable<Awaited<ReturnType<typeof endpointHealth>>>;

/** One endpoint's health in a line: its attempts, backlog, breaker and last error. */
export function healthLine(health: Health): string {
  const parts: string[] = [];
  if (health.attempts === 0) parts.push(`no attempts in ${health.window_hours} h`);
  else {
    const rate = Math.round((health.success_rate ?? 0) * 100);
    const latency = (ms: number | null) => (ms === null ? '-' : `${Math.round(ms)} ms`);
    parts.push(
      `${health.attempts} attempt(s) in ${health.window_hours} h, ${rate}% succeeded, ` +
        `p50 ${latency(health.latency_ms.p50)}, p99 ${latency(health.latency_ms.p99)}`,
    );
  }
  const backlog = Object.entries(health.backlog);
  const waiting = backlog.reduce((sum, [, n]) => sum + Number(n), 0);
  parts.push(
    waiting === 0
      ? 'no backlog'
      : `backlog ${waiting} (${backlog.map(([state, n]) => `${state} ${n}`).join(', ')}; ` +
        `oldest ${ageText(health.oldest_backlog_ms ?? 0)})`,
  );
  parts.push(`breaker ${health.breaker}`);
  if (health.failing_since) parts.push(`failing since ${health.failing_since}`);
  if (health.last_error) parts.push(`last error: ${health.last_error.slice(0, 120)}`);
  return parts.join('; ');
}

/** A progress bar of `done` out of `total`, 30 characters wide. */
export function progressBar(done: number, total: number): string {
  const share = total === 0 ? 1 : Math.min(done / total, 1);
  const filled = Math.round(share * 30);
  return `[${'#'.repeat(filled)}${'-'.repeat(30 - filled)}] ${Math.floor(share * 100)}% ` +
    `${done}/${total}`;
}

async function replay(
  values: {
    endpoint?: string;
    since?: string;
    until?: string;
    'include-succeeded'?: boolean;
    json?: boolean;
  },
  options: WebhooksCommandOptions,
  print: (line: string) => void,
): Promise<number> {
  const id = values.endpoint;
  if (id === undefined) throw new UsageError(`--endpoint is required\n${USAGE}`);
  if (!UUID.test(id)) {
    throw new UsageError(`--endpoint must be an endpoint id (a uuid); got "${id}"`);
  }
  if (values.since === undefined) throw new UsageError(`--since is required, e.g. --since 2h`);
  const since = parseSince(values.since);
  const until = values.until;
  if (until !== undefined && (!ISO_TIME.test(until) || Number.isNaN(Date.parse(until)))) {
    throw new UsageError(
      `--until must be an ISO 8601 time with its zone, like 2026-12-07T09:00:00Z; got "${until}"`,
    );
  }
  const includeSucceeded = values['include-succeeded'] ?? false;
  const json = values.json ?? false;
  const actor = options.actor ?? `cli:${options.env.USER ?? 'unknown'}`;

  return await withDatabase(options, print, async (db) => {
    const [clock] = await db.query<{ from: Date | string; now: Date | string }>(
      `select now() - $1::interval as from, now() as now`,
      [typed(since, 'text')],
    );
    const from = new Date(clock!.from);
    const to = until === undefined ? new Date(clock!.now) : new Date(until);
    if (from >= to) {
      throw new UsageError(`--until (${to.toISOString()}) must come after --since (${since} ago)`);
    }
    const [endpoint] = await db.query<{ status: string }>(
      'select status from public.webhook_endpoints where id = $1',
      [typed(id.toLowerCase(), 'uuid')],
    );
    if (!endpoint) {
      print(`no webhook endpoint ${id}`);
      return 1;
    }
    const range: ReplayRange = { endpointId: id.toLowerCase(), from, to, includeSucceeded };
    const scope = `events since ${from.toISOString()}` +
      (until === undefined ? '' : ` until ${to.toISOString()}`) +
      `, ${includeSucceeded ? 'failed and succeeded' : 'failed'} messages`;
    const counted = await countReplayable(db, range);
    if (!json) print(`replaying ${counted} message(s) of endpoint ${range.endpointId} (${scope})`);

    let replayed = 0;
    let batches = 0;
    const terminal = json ? undefined : options.terminal;
    const size = options.batchSize ?? REPLAY_BATCH_SIZE;
    const batchesOf = counted > 0 && !options.signal?.aborted
      ? replayBatches(db, range, null, { actor }, size)
      : [];
    for await (const batch of batchesOf) {
      batches += 1;
      replayed += batch.replayed;
      if (terminal) terminal.write(`\r${progressBar(replayed, counted)}`);
      else if (!json) {
        print(`batch ${batches}: replayed ${batch.replayed} (${replayed} of ${counted})`);
      }
      if (options.signal?.aborted) break;
    }
    if (terminal && batches > 0) terminal.write('\n');
    const stopped = options.signal?.aborted ?? false;
    if (json) {
      print(JSON.stringify(
        {
          endpoint: range.endpointId,
          from: from.toISOString(),
          to: to.toISOString(),
          include_succeeded: includeSucceeded,
          counted,
          replayed,
          batches,
          stopped,
          actor,
        },
        null,
        2,
      ));
    } else {
      print(
        `replayed ${replayed} message(s) of endpoint ${range.endpointId} (${scope})` +
          `${stopped ? '; stopped before the end' : ''}; audited as ${actor}`,
      );
      if (replayed > 0 && endpoint.status !== 'active') {
        print(`the endpoint is ${endpoint.status}: its messages are held until it resumes`);
      }
    }
    return stopped ? 1 : 0;
  });
}
