-- The functions claim_jobs calls plan their statements as they did before it kept generic
-- plans, and lease_jobs plans its update for the ids it is given at every call.
--
-- claim_jobs runs with `plan_cache_mode = force_generic_plan`
-- (20261213090000_claim_jobs_generic_plans.sql), and a function's settings hold for the
-- functions it calls. lease_jobs's update (`where id = any(p_ids)`) then kept the generic
-- plan made at a connection's first claim: made while the jobs table was small, that plan
-- read the whole table, and went on reading all of it at every claim as the table grew,
-- until an ANALYZE of jobs made the connection plan again. Under load on a fresh database
-- (the fault benchmark) a claim of ten jobs took 8-10 ms instead of under 1 ms, most of the
-- database's time at 4x overload. Planned for its ids at every call, the update reads the
-- primary key whatever the table's size (tests/jobs-claim-plans.test.ts counts the claim's
-- whole-table reads of jobs after the table grew). The other functions claim_jobs calls
-- go back to the default mode; claim_jobs's own statements keep their generic plans,
-- which walk the claim indexes from an empty table up (checked when they were made).

alter function public.lease_jobs(bigint[], text, interval)
  set plan_cache_mode = force_custom_plan;
alter function public.release_expired_leases() set plan_cache_mode = auto;
alter function public.processing_held_queues() set plan_cache_mode = auto;
alter function public.rate_limit_take_up_to(text, integer, double precision, integer)
  set plan_cache_mode = auto;
