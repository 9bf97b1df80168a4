import { parseArgs } from 'node:util';
import {
  EVENT_STATUSES,
  type EventFilter,
  type EventStatus,
  type EventTrace,
  listEvents,
  traceEvent,
} from '../functions/_shared/jobs/trace.ts';
import {
  type CommandOptions,
  guardUsage,
  parseLimit,
  parseSince,
  printListing,
  UsageError,
  withDatabase,
} from './command-support.ts';

const USAGE = 'usage: gatehouse events list [--since 1h] [--provider p] [--status s] ' +
  '[--limit n] [--json]\n' +
  '       gatehouse events show <provider> <event key> [--json]';

const OPTIONS = {
  since: { type: 'string' },
  provider: { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

/**
 * `gatehouse events list|show`: what happened to the events providers sent. `list` shows
 * the latest events (received within `--since`, 1 hour by default) with their status and
 * their job's; `show` one event with its payload, its job(s), every attempt's error and
 * where it ended. Exit code 1 when `show` finds no such event.
 */
export async function runEventsCommand(
  args: readonly string[],
  options: CommandOptions,
): Promise<number> {
  const print = options.print ?? ((line: string) => console.log(line));
  const [sub, ...rest] = args;
  return await guardUsage(print, async () => {
    const { values, positionals } = parseArgs({
      args: [...rest],
      options: OPTIONS,
      allowPositionals: sub === 'show',
      strict: true,
    });
    if (sub === 'list') {
      const filter = filterFrom(values);
      const limit = parseLimit(values.limit);
      return await withDatabase(options, print, async (db) => {
        const events = await listEvents(db, filter, limit);
        return printListing(print, events, {
          json: values.json,
          none: `no events (${describe(filter)})`,
          header: ['received', 'provider', 'event key', 'type', 'status', 'job', 'attempts'],
          row: (event) => [
            event.receivedAt.toISOString(),
            event.provider,
            shorten(event.key, 48),
            shorten(event.type, 32),
            event.status,
            event.jobStatus ?? '-',
            event.attempts === null ? '-' : String(event.attempts),
          ],
          footer: `${events.length} event(s) (${describe(filter)}), newest first`,
        });
      });
    }
    if (sub === 'show') {
      const [provider, key, ...extra] = positionals;
      if (!provider || !key || extra.length > 0) throw new UsageError(USAGE);
      return await withDatabase(options, print, async (db) => {
        const event = await traceEvent(db, provider, key);
        if (!event) {
          print(`no ${provider} event with key ${key}`);
          return 1;
        }
        if (values.json) print(JSON.stringify(event, null, 2));
        else printTrace(event, print);
        return 0;
      });
    }
    throw new UsageError(USAGE);
  });
}

function filterFrom(values: { since?: string; provider?: string; status?: string }): EventFilter {
  const status = values.status;
  if (status !== undefined && !(EVENT_STATUSES as readonly string[]).includes(status)) {
    throw new UsageError(`--status must be one of ${EVENT_STATUSES.join(', ')}; got "${status}"`);
  }
  return {
    since: parseSince(values.since ?? '1h'),
    provider: values.provider ?? null,
    status: (status as EventStatus | undefined) ?? null,
  };
}

function describe(filter: EventFilter): string {
  return [
    `received within ${filter.since}`,
    ...(filter.provider ? [`provider ${filter.provider}`] : []),
    ...(filter.status ? [`status ${filter.status}`] : []),
  ].join(', ');
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Where an event ended, in words. */
function verdict(event: EventTrace): string {
  switch (event.status) {
    case 'processed':
      return 'processed: its job completed';
    case 'failed':
      return 'failed: its job was dead-lettered (gatehouse dlq retry replays it)';
    case 'rate_limited':
      return 'stored but rate limited: no job runs for it';
    default:
      return event.jobStatus === null
        ? 'accepted: its job is no longer in the queue'
        : `accepted: its job is ${event.jobStatus}`;
  }
}

export function printTrace(event: EventTrace, print: (line: string) => void): void {
  print(`event ${event.provider} ${event.key}`);
  print(`  type        ${event.type}`);
  print(`  status      ${verdict(event)}`);
  print(`  received    ${event.receivedAt.toISOString()}`);
  if (event.sender) print(`  sender      ${event.sender}`);
  if (event.requestId) print(`  request id  ${event.requestId}`);
  if (event.jobs.length === 0) print('  jobs        none');
  for (const job of event.jobs) {
    const when = job.at
      ? `  ${job.status === 'pending' ? 'due' : 'at'} ${job.at.toISOString()}`
      : '';
    print(
      `  job ${job.id}  ${job.kind}  ${job.status}  attempt ${job.attempts} of ${job.maxAttempts}${when}`,
    );
    for (const error of job.errors) {
      print(
        `    #${error.attempt} ${error.at}  ${error.error}${error.permanent ? ' (permanent)' : ''}`,
      );
    }
  }
  print(`  payload     ${JSON.stringify(event.payload)}`);
}
