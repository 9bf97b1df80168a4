-- ANALYZE leaves the stored payloads alone: no statistics for the jsonb columns that hold a
-- delivery's body, a job's arguments and its errors, or an outbound event's body.
--
-- Nothing filters or joins on these columns by their values across the table (the queries
-- that look inside a payload do so for rows already found by key), so their statistics never
-- informed a plan; gathering them was most of the cost of analysing these tables. Intake
-- inserts into inbound_events and jobs at every delivery, so autovacuum analyses them every
-- tenth of their size, and on a fresh or small database that is every few seconds under load:
-- measured on 36,000 rows of each, ANALYZE of inbound_events took 217 ms and of jobs 207-215
-- ms with these statistics, 107 ms and 115-120 ms without. On a machine whose Postgres shares
-- a core with the server, that time came out of the requests' (docs/benchmarks.md, faults).
-- The other columns keep their statistics.

alter table public.inbound_events alter column payload set statistics 0;
alter table public.jobs alter column payload set statistics 0;
alter table public.jobs alter column errors set statistics 0;
alter table public.dead_jobs alter column payload set statistics 0;
alter table public.dead_jobs alter column errors set statistics 0;
alter table public.outbound_events alter column payload set statistics 0;
