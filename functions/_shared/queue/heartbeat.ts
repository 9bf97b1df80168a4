import type { Clock } from '../clock.ts';
import type { Logger } from '../log/index.ts';
import { LeaseLostError } from './errors.ts';

export interface LeaseHeartbeatOptions {
  /**
   * Renews the leases of `ids` in one statement; resolves with the ids still this
   * worker's (e.g. `extendLeases` from store.ts).
   */
  readonly renew: (ids: readonly number[]) => Promise<ReadonlySet<number>>;
  readonly leaseSeconds: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface LeaseHeartbeat {
  /**
   * Keeps renewing `id`'s lease, granted for the lease length at `grantedAt` (when the
   * claim was sent). `onLost` runs once, if the lease is found lost or cannot be confirmed
   * before it runs out; the job is no longer held after that.
   */
  hold(id: number, grantedAt: number, onLost: (error: LeaseLostError) => void): Hold;
  /**
   * Stops renewing a lease (its job completed, failed, or went back to the queue). The
   * hold, not the id: a job retried at once may be held again, by a newer claim.
   */
  release(hold: Hold): void;
  /** Whether the lease is still held and known to last at least until now. */
  holds(hold: Hold): boolean;
  /** Stops the timer; an answer still on its way is ignored. */
  stop(): void;
}

/** One claim's lease, as the heartbeat keeps it. */
export interface Hold {
  readonly id: number;
  /** The lease is known to last at least until then (client clock). */
  heldUntil: number;
  readonly onLost: (error: LeaseLostError) => void;
}

/**
 * One heartbeat per worker pass: every third of the lease, one statement renews the lease
 * of every job the pass holds, running or claimed and waiting for a slot, so a worker that
 * dies (killed, machine gone) leaves leases that run out one lease after its last beat,
 * while a live worker keeps a job as long as it runs. The database's answer names the jobs
 * still held; any other was lost (another worker took it after its lease ran out) and is
 * reported through its `onLost`. A lease that could not be renewed (the database is
 * unreachable or too slow to answer) is reported lost the moment it runs out, since from
 * then on another worker may take the job.
 *
 * @example
 * const heartbeat = startLeaseHeartbeat({
 *   renew: (ids) => extendLeases(db, ids, workerId, 15),
 *   leaseSeconds: 15, clock: systemClock, logger,
 * });
 * const lease = heartbeat.hold(job.id, claimSentAt, (error) => controller.abort(error));
 * // ... the job runs ...
 * heartbeat.release(lease);
 * heartbeat.stop();
 */
export function startLeaseHeartbeat(options: LeaseHeartbeatOptions): LeaseHeartbeat {
  const { clock, logger } = options;
  const leaseMs = options.leaseSeconds * 1000;
  const held = new Map<number, Hold>();
  let renewing = false;
  let stopped = false;
  /** One timer for the earliest lease to run out, and when it fires. */
  let expiry: ReturnType<typeof setTimeout> | null = null;
  let expiresAt = Infinity;

  const lose = (hold: Hold, why: string) => {
    if (held.get(hold.id) !== hold) return;
    held.delete(hold.id);
    logger.warn(why, { job_id: hold.id });
    try {
      hold.onLost(new LeaseLostError(hold.id));
    } catch (error) {
      logger.error('stopping a job whose lease was lost failed', { job_id: hold.id, error });
    }
  };

  const armExpiry = () => {
    if (expiry !== null) clearTimeout(expiry);
    expiry = null;
    expiresAt = Infinity;
    if (stopped) return;
    for (const hold of held.values()) expiresAt = Math.min(expiresAt, hold.heldUntil);
    if (expiresAt !== Infinity) {
      expiry = setTimeout(expire, Math.max(0, expiresAt - clock.now()));
    }
  };

  const expire = () => {
    const now = clock.now();
    for (const hold of [...held.values()]) {
      if (hold.heldUntil <= now) {
        lose(hold, 'job lease ran out before it could be renewed (database unreachable?)');
      }
    }
    armExpiry();
  };

  const renew = async () => {
    const sent = [...held.values()];
    const sentAt = clock.now();
    renewing = true;
    try {
      const still = await options.renew(sent.map((hold) => hold.id));
      if (stopped) return;
      for (const hold of sent) {
        // Released meanwhile, or claimed again (a retry): a new hold this answer predates.
        if (held.get(hold.id) !== hold) continue;
        if (still.has(hold.id)) hold.heldUntil = Math.max(hold.heldUntil, sentAt + leaseMs);
        else lose(hold, 'job lease lost: another worker owns the job now');
      }
      armExpiry();
    } catch (error) {
      if (!stopped) {
        logger.warn('renewing job leases failed; retrying at the next beat', {
          jobs: sent.length,
          error,
        });
      }
    } finally {
      renewing = false;
    }
  };

  const beat = setInterval(() => {
    // One renewal at a time: a slow database gets no pile of them.
    if (!renewing && held.size > 0) void renew();
  }, leaseMs / 3);

  return {
    hold(id, grantedAt, onLost) {
      const hold = { id, heldUntil: grantedAt + leaseMs, onLost };
      held.set(id, hold);
      if (hold.heldUntil < expiresAt) armExpiry();
      return hold;
    },
    release(hold) {
      if (held.get(hold.id) === hold) held.delete(hold.id);
    },
    holds(hold) {
      return held.get(hold.id) === hold && hold.heldUntil > clock.now();
    },
    stop() {
      stopped = true;
      clearInterval(beat);
      if (expiry !== null) clearTimeout(expiry);
      held.clear();
    },
  };
}
