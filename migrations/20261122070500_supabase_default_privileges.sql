-- Supabase grants anon, authenticated and service_role everything on new tables, sequences
-- and functions in public (default privileges), and `revoke ... from public` does not undo
-- a grant made to a role by name. Take back what Gatehouse's own objects must not expose
-- (and only those: an existing project's own functions and sequences are left alone):
-- - none of Gatehouse's functions is executable by anon or authenticated (triggers still
--   fire);
-- - the id sequences of its tables are not usable by them;
-- - the audit log is append-only for everyone: service_role may read and insert only,
--   and truncate is refused like update and delete (a row trigger does not see truncate);
-- - slow_jobs and queue_settings: service_role keeps only what the job engine grants.
-- Every later migration revokes for its own functions (a test checks the catalogue).

do $$
declare
  fn regprocedure;
  tbl text;
begin
  for fn in
    select p.oid::regprocedure
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'public' and p.prokind = 'f'
       and p.proname = any (array[
         'audit_logs_append_only', 'claim_jobs', 'complete_job', 'complete_jobs',
         'extend_job_lease', 'fail_job', 'feature_flags_touch', 'ingest_events', 'lease_jobs',
         'processing_held_queues', 'purge_retention', 'queue_health', 'rate_limit_refill',
         'rate_limit_take', 'rate_limit_take_up_to', 'release_expired_leases', 'release_jobs',
         'replay_dead_jobs', 'schedule_worker_sweep'])
  loop
    execute format('revoke execute on function %s from anon, authenticated', fn);
  end loop;
  foreach tbl in array array['jobs', 'inbound_events', 'whatsapp_logs', 'slow_jobs', 'audit_logs']
  loop
    execute format('revoke all on sequence %s from anon, authenticated',
                   pg_get_serial_sequence('public.' || tbl, 'id'));
  end loop;
end;
$$;

revoke all on public.audit_logs, public.slow_jobs, public.queue_settings from service_role;
grant select, insert on public.audit_logs to service_role;
grant select, insert, delete on public.slow_jobs to service_role;
grant select, insert, update, delete on public.queue_settings to service_role;

create trigger audit_logs_no_truncate before truncate on public.audit_logs
  for each statement execute function public.audit_logs_append_only();
