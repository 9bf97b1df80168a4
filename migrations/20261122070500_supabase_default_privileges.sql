-- Supabase grants anon, authenticated and service_role everything on new tables, sequences
-- and functions in public (default privileges), and `revoke ... from public` does not undo
-- a grant made to a role by name. Take back what the platform must not expose:
-- - no function in public is executable by anon or authenticated (triggers still fire);
-- - no sequence in public is usable by them;
-- - the audit log is append-only for everyone: service_role may read and insert only,
--   and truncate is refused like update and delete (a row trigger does not see truncate);
-- - slow_jobs and queue_settings: service_role keeps only what the job engine grants.
-- Every later migration revokes for its own functions (a test checks the catalogue).

do $$
declare
  fn regprocedure;
begin
  for fn in
    select p.oid::regprocedure
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'public' and p.prokind = 'f'
  loop
    execute format('revoke execute on function %s from anon, authenticated', fn);
  end loop;
end;
$$;

revoke all on all sequences in schema public from anon, authenticated;

revoke all on public.audit_logs, public.slow_jobs, public.queue_settings from service_role;
grant select, insert on public.audit_logs to service_role;
grant select, insert, delete on public.slow_jobs to service_role;
grant select, insert, update, delete on public.queue_settings to service_role;

create trigger audit_logs_no_truncate before truncate on public.audit_logs
  for each statement execute function public.audit_logs_append_only();
