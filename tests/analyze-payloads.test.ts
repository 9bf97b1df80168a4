/**
 * ANALYZE leaves stored payloads unsampled: the jsonb bodies of deliveries, jobs and outbound
 * events inform no plan, and gathering their statistics was most of what analysing these
 * tables cost (autovacuum analyses them every tenth of their size, every few seconds on a
 * busy small database). The other columns keep theirs.
 */
import { describe, expect, it } from 'vitest';
import { useMigratedDatabase } from './support/migrated.ts';

const database = useMigratedDatabase({
  reset: `delete from jobs; delete from inbound_events where provider = 'stats-test';`,
});

describe('statistics of payload columns', () => {
  it('keeps none for the payloads after ANALYZE, and keeps the other columns', async () => {
    await database.db.query(
      `insert into inbound_events (provider, event_key, event_type, sender, payload)
       select 'stats-test', 'key-' || i, 'message', 'sender-' || (i % 7),
              jsonb_build_object('text', repeat('x', 200 + i % 50), 'n', i)
         from generate_series(1, 500) i`,
    );
    await database.db.query(
      `insert into jobs (queue, kind, payload, errors)
       select 'stats', 'stats.kind', jsonb_build_object('n', i), jsonb_build_array('e' || i)
         from generate_series(1, 500) i`,
    );
    await database.db.query('analyze inbound_events, jobs');
    const rows = await database.db.query<{ table: string; column: string }>(
      `select tablename as table, attname as column from pg_stats
        where schemaname = 'public' and tablename in ('inbound_events', 'jobs')
        order by 1, 2`,
    );
    const gathered = rows.map((row) => `${row.table}.${row.column}`);
    expect(gathered).toEqual(expect.arrayContaining([
      'inbound_events.provider',
      'inbound_events.sender',
      'jobs.kind',
      'jobs.queue',
    ]));
    expect(gathered).not.toContain('inbound_events.payload');
    expect(gathered).not.toContain('jobs.payload');
    expect(gathered).not.toContain('jobs.errors');
  });

  it('sets every payload column of the queue tables to gather nothing', async () => {
    const rows = await database.db.query<{ column: string; target: number }>(
      `select c.relname || '.' || a.attname as column, a.attstattarget::int as target
         from pg_attribute a join pg_class c on c.oid = a.attrelid
        where c.relnamespace = 'public'::regnamespace
          and (c.relname, a.attname) in (('inbound_events', 'payload'), ('jobs', 'payload'),
            ('jobs', 'errors'), ('dead_jobs', 'payload'), ('dead_jobs', 'errors'),
            ('outbound_events', 'payload'))
        order by 1`,
    );
    expect(rows).toEqual([
      { column: 'dead_jobs.errors', target: 0 },
      { column: 'dead_jobs.payload', target: 0 },
      { column: 'inbound_events.payload', target: 0 },
      { column: 'jobs.errors', target: 0 },
      { column: 'jobs.payload', target: 0 },
      { column: 'outbound_events.payload', target: 0 },
    ]);
  });
});
