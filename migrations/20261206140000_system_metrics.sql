-- Metrics aggregated across instances. Each process records counters, gauges and
-- histograms in memory and adds what changed since its last flush to two rows of each series
-- (one statement per flush, never a write per request): the current minute's, for windows
-- and charts, and the series' total (width 0, bucket -infinity), which /metrics reads, so a
-- scrape costs one row per series however long the history. Rows of one series from
-- different instances and flushes add up, so a counter never decreases, across instances
-- and restarts alike. Retention rolls minute rows up into hour rows (system_metrics_rollup)
-- and never touches a total.

create table public.system_metrics (
  name text not null,
  -- Label names to values, e.g. {"provider": "stripe", "outcome": "accepted"}.
  labels jsonb not null default '{}',
  -- Start of the time bucket the row covers, and its width (1 minute raw, 1 hour rolled up;
  -- a counter's or histogram's total since it was first recorded: -infinity, width 0).
  bucket timestamptz not null,
  width interval not null default interval '1 minute',
  kind text not null check (kind in ('counter', 'gauge', 'histogram')),
  -- counter: the increase in the bucket; gauge: the highest value any instance reported in
  -- the bucket; histogram: the sum of the observations.
  value double precision not null default 0,
  -- histogram: observations in the bucket; gauge: reports in the bucket.
  count bigint not null default 0,
  -- histogram only: the upper bounds (without +Inf) and the observations per bound, not
  -- cumulative, one more than bounds (the last counts observations above every bound).
  bounds double precision[],
  counts bigint[],
  updated_at timestamptz not null default now(),
  primary key (name, labels, width, bucket),
  check ((kind = 'histogram') = (bounds is not null and counts is not null)),
  check (counts is null or cardinality(counts) = cardinality(bounds) + 1),
  -- A gauge has no total: only its latest value means anything.
  check (width > interval '0' or (kind <> 'gauge' and bucket = '-infinity'))
);

create index system_metrics_bucket_idx on public.system_metrics (bucket);
-- The totals /metrics reads, without a scan of the history.
create index system_metrics_totals_idx on public.system_metrics (name, labels)
  where width = interval '0';

comment on table public.system_metrics is
  'Counters, gauges and histograms from every instance, added up per minute (rolled up per hour later). Written by the metrics flush; read by /metrics, SLOs and the admin API.';

alter table public.system_metrics enable row level security;

-- Platform table: only the service role reads or writes metrics.
create policy "service role manages metrics" on public.system_metrics
  for all to service_role using (true) with check (true);

revoke all on public.system_metrics from anon, authenticated;
grant select, insert, update, delete on public.system_metrics to service_role;

-- Adds histogram counts element by element (either may be null: the other is kept).
create function public.system_metrics_add_counts(a bigint[], b bigint[]) returns bigint[]
language sql immutable parallel safe set search_path = '' as $$
  select case
    when a is null then b
    when b is null then a
    else (select pg_catalog.array_agg(coalesce(x, 0) + coalesce(y, 0) order by i)
          from rows from (pg_catalog.unnest(a), pg_catalog.unnest(b)) with ordinality as u(x, y, i))
  end
$$;

revoke all on function public.system_metrics_add_counts(bigint[], bigint[]) from public, anon, authenticated;
grant execute on function public.system_metrics_add_counts(bigint[], bigint[]) to service_role;

-- The aggregate over rows of one histogram: its counts added element by element.
create aggregate public.system_metrics_sum_counts(bigint[]) (
  sfunc = public.system_metrics_add_counts,
  stype = bigint[]
);

revoke all on function public.system_metrics_sum_counts(bigint[]) from public, anon, authenticated;
grant execute on function public.system_metrics_sum_counts(bigint[]) to service_role;

-- Moves minute rows older than `older_than` into hour rows (adding to any there already)
-- and deletes them: totals stay the same, the table stops growing with every minute.
-- Returns how many minute rows it moved. Rows of a histogram whose bounds differ from its
-- hour row's are added as they are: a histogram's bounds are fixed by its name.
create function public.system_metrics_rollup(older_than interval, max_rows int default 10000)
returns bigint
language plpgsql security definer set search_path = '' as $$
declare
  moved bigint;
begin
  if older_than is null or older_than < interval '1 hour' then
    raise exception 'system_metrics_rollup keeps at least an hour of minute rows'
      using errcode = '22023';
  end if;
  with picked as (
    select m.name, m.labels, m.width, m.bucket
      from public.system_metrics m
     where m.width = interval '1 minute'
       and m.bucket < pg_catalog.date_trunc('hour', pg_catalog.now() - older_than)
     order by m.bucket
     limit greatest(max_rows, 1)
       for update skip locked
  ), gone as (
    delete from public.system_metrics m
     using picked p
     where (m.name, m.labels, m.width, m.bucket) = (p.name, p.labels, p.width, p.bucket)
    returning m.*
  ), hours as (
    select g.name, g.labels, pg_catalog.date_trunc('hour', g.bucket) as bucket, g.kind,
           case when g.kind = 'gauge' then max(g.value) else sum(g.value) end as value,
           sum(g.count)::bigint as count,
           max(g.bounds) as bounds,
           public.system_metrics_sum_counts(g.counts order by g.bucket) as counts,
           count(*) as rows
      from gone g
     group by g.name, g.labels, pg_catalog.date_trunc('hour', g.bucket), g.kind
  ), written as (
    insert into public.system_metrics as m
           (name, labels, bucket, width, kind, value, count, bounds, counts, updated_at)
    select h.name, h.labels, h.bucket, interval '1 hour', h.kind, h.value, h.count, h.bounds,
           h.counts, pg_catalog.now()
      from hours h
     order by h.name, h.labels, h.bucket
    on conflict (name, labels, width, bucket) do update set
      value = case when m.kind = 'gauge' then greatest(m.value, excluded.value)
                   else m.value + excluded.value end,
      count = m.count + excluded.count,
      counts = public.system_metrics_add_counts(m.counts, excluded.counts),
      updated_at = excluded.updated_at
    returning 1
  )
  -- `written` runs whether or not it is read (a data-modifying WITH always runs to the end).
  select coalesce(sum(h.rows), 0) into moved from hours h;
  return moved;
end;
$$;

revoke all on function public.system_metrics_rollup(interval, int) from public, anon, authenticated;
grant execute on function public.system_metrics_rollup(interval, int) to service_role;
