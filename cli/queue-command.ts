import { parseArgs } from 'node:util';
import { createJobRunner } from '../functions/_shared/jobs/index.ts';
import {
  ALL_TIME,
  type DeadJob,
  type DeadJobFilter,
  listDeadJobs,
  queueHealth,
  replayDeadJobs,
} from '../functions/_shared/queue/index.ts';
import { createLogger } from '../functions/_shared/log/index.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import {
  ageText,
  booleanFlag,
  type CommandOptions,
  guardUsage,
  parseLimit,
  parseSince,
  printListing,
  table,
  UsageError,
  withDatabase,
} from './command-support.ts';

export type { CommandOptions as QueueCommandOptions } from './command-support.ts';
export { parseSince } from './command-support.ts';

/**
 * `gatehouse queue health [--json]`: depth, scheduled, running, dead and the oldest due
 * job's age per queue, rated against the thresholds. Exit code 1 when critical.
 */
export async function runQueueCommand(
  args: readonly string[],
  options: CommandOptions,
): Promise<number> {
  const print = options.print ?? ((line: string) => console.log(line));
  const [sub, ...rest] = args;
  const usage = 'usage: gatehouse queue health [--json]';
  if (sub !== 'health') {
    print(usage);
    return 2;
  }
  const json = booleanFlag(rest, 'json', usage, print);
  if (json === null) return 2;
  return await withDatabase(options, print, async (db, config) => {
    const health = await queueHealth(db, config.queue);
    if (json) {
      print(JSON.stringify(health, null, 2));
    } else {
      const rows = [['queue', 'depth', 'scheduled', 'running', 'dead', 'oldest due', 'level']];
      for (const q of health.queues) {
        rows.push([
          q.queue,
          String(q.depth),
          String(q.scheduled),
          String(q.running),
          String(q.dead),
          ageText(q.oldestDueMs),
          q.level,
        ]);
      }
      if (health.queues.length === 0) print('no jobs in any queue');
      else for (const line of table(rows)) print(line);
      print(
        `queue health: ${health.level} (depth warning at ${config.queue.depthWarning}, ` +
          `critical at ${config.queue.depthCritical}); ${health.totals.depth} due, ` +
          `${health.totals.running} running, ${health.totals.dead} dead`,
      );
    }
    return health.level === 'critical' ? 1 : 0;
  });
}

const FILTER_OPTIONS = {
  since: { type: 'string' },
  provider: { type: 'string' },
  kind: { type: 'string' },
  id: { type: 'string', multiple: true },
  limit: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

function filterFrom(
  values: { since?: string; provider?: string; kind?: string; id?: string[] },
  defaultSince: string | null,
): DeadJobFilter {
  const sinceText = values.since ?? defaultSince;
  if (sinceText === null) throw new UsageError('--since is required, e.g. --since 1h');
  const ids = values.id?.map((id) => {
    if (!/^\d+$/.test(id)) throw new UsageError(`--id must be a job id (a number); got "${id}"`);
    return Number(id);
  });
  return {
    since: parseSince(sinceText),
    provider: values.provider ?? null,
    kind: values.kind ?? null,
    ids: ids && ids.length > 0 ? ids : null,
  };
}

function describeFilter(filter: DeadJobFilter): string {
  const parts = [`dead within ${filter.since}`];
  if (filter.provider) parts.push(`provider ${filter.provider}`);
  if (filter.kind) parts.push(`kind ${filter.kind}`);
  if (filter.ids) parts.push(`ids ${filter.ids.join(', ')}`);
  return parts.join(', ');
}

function printDeadJob(job: DeadJob, print: (line: string) => void): void {
  print(`dead job ${job.id}`);
  print(`  queue       ${job.queue}`);
  print(`  kind        ${job.kind}`);
  print(`  attempts    ${job.attempts} of ${job.maxAttempts}`);
  print(`  created     ${job.createdAt.toISOString()}`);
  print(`  dead since  ${job.deadAt.toISOString()}`);
  if (job.requestId) print(`  request id  ${job.requestId}`);
  print(`  payload     ${JSON.stringify(job.payload)}`);
  print('  errors:');
  for (const error of job.errors) {
    print(
      `    #${error.attempt} ${error.at}  ${error.error}${error.permanent ? ' (permanent)' : ''}`,
    );
  }
}

/**
 * `gatehouse dlq list|show|retry`: dead letters, with their error history, and replay by
 * filter (each replayed job gets an audit row).
 */
export async function runDlqCommand(
  args: readonly string[],
  options: CommandOptions,
): Promise<number> {
  const print = options.print ?? ((line: string) => console.log(line));
  const [sub, ...rest] = args;
  return await guardUsage(print, async () => {
    const { values, positionals } = parseArgs({
      args: [...rest],
      options: FILTER_OPTIONS,
      allowPositionals: sub === 'show',
      strict: true,
    });
    if (sub === 'list') {
      const filter = filterFrom(values, '7d');
      const limit = parseLimit(values.limit);
      return await withDatabase(options, print, async (db) => {
        const jobs = await listDeadJobs(db, filter, limit);
        return printListing(print, jobs, {
          json: values.json ?? false,
          none: `no dead jobs (${describeFilter(filter)})`,
          header: ['id', 'queue', 'kind', 'attempts', 'dead at', 'last error'],
          row: (job) => [
            String(job.id),
            job.queue,
            job.kind,
            `${job.attempts}/${job.maxAttempts}`,
            job.deadAt.toISOString(),
            (job.lastError ?? '').slice(0, 80),
          ],
          footer: `${jobs.length} dead job(s) (${describeFilter(filter)})`,
        });
      });
    }
    if (sub === 'show') {
      const id = positionals[0];
      if (!id || !/^\d+$/.test(id)) throw new UsageError('usage: gatehouse dlq show <id>');
      return await withDatabase(options, print, async (db) => {
        const [job] = await listDeadJobs(
          db,
          { since: ALL_TIME, ids: [Number(id)] },
          1,
        );
        if (!job) {
          print(`no dead job with id ${id}`);
          return 1;
        }
        if (values.json) print(JSON.stringify(job, null, 2));
        else printDeadJob(job, print);
        return 0;
      });
    }
    if (sub === 'retry') {
      const filter = filterFrom(values, null);
      const actor = options.actor ?? `cli:${options.env.USER ?? 'unknown'}`;
      return await withDatabase(options, print, async (db) => {
        const replayed = await replayDeadJobs(db, filter, actor);
        print(`replayed ${replayed} dead job(s) (${describeFilter(filter)}); audited as ${actor}`);
        return 0;
      });
    }
    throw new UsageError(
      'usage: gatehouse dlq list [--since 7d] [--provider p] [--kind k] [--limit n] [--json]\n' +
        '       gatehouse dlq show <id> [--json]\n' +
        '       gatehouse dlq retry --since 1h [--provider p] [--kind k] [--id n ...]',
    );
  });
}

/**
 * `gatehouse worker [--once]`: runs worker passes against DATABASE_URL (or the embedded
 * database) every GATEHOUSE_SCHEDULER_INTERVAL_MS until stopped; `--once` runs one pass
 * and prints its report as JSON.
 */
export async function runWorkerCommand(
  args: readonly string[],
  options: CommandOptions,
): Promise<number> {
  const print = options.print ?? ((line: string) => console.log(line));
  const once = booleanFlag(args, 'once', 'usage: gatehouse worker [--once]', print);
  if (once === null) return 2;
  return await withDatabase(options, print, async (db, config, jobsDb) => {
    const logger = createLogger({ level: config.log.level, base: { service: 'gatehouse-worker' } });
    const runner = createJobRunner({
      config,
      db,
      jobsDb,
      logger,
      clock: systemClock,
      app: options.app,
    });
    if (once) {
      const report = await runner.pass({ maintenance: true, signal: options.signal });
      print(JSON.stringify(report));
      return 0;
    }
    const interval = Math.max(config.queue.schedulerIntervalMs, 100);
    print(`worker ${runner.workerId} polling every ${interval} ms; Ctrl-C stops it`);
    while (!options.signal?.aborted) {
      const report = await runner.pass({ maintenance: true, signal: options.signal });
      if (report.claimed > 0) logger.info('worker pass', { ...report });
      if (options.signal?.aborted) break;
      await new Promise<void>((done) => {
        // One listener per sleep, removed when the sleep ends: the loop runs for days.
        const stop = () => {
          clearTimeout(timer);
          done();
        };
        const timer = setTimeout(() => {
          options.signal?.removeEventListener('abort', stop);
          done();
        }, interval);
        options.signal?.addEventListener('abort', stop, { once: true });
      });
    }
    print('worker stopped');
    return 0;
  });
}
