/** What one pass lends the others of its runner (see {@link WorkerPasses}). */
export interface PassMember {
  /** Something changed (a slot came free): look again at what may start. */
  nudge(): void;
  /**
   * New jobs are due: claim again. Null when the pass claims no more (out of time,
   * stopping) or runs only some queues; else resolves to whether a claim sent after this
   * wake answered it (took the new jobs, or found them taken): false as soon as the pass
   * stops claiming without one, else once the pass has ended. Wakes that one claim answers
   * (those before it is sent) get the same promise.
   */
  wake(): Promise<boolean> | null;
}

/**
 * What the worker passes of one runner share, so that passes running side by side (the
 * local scheduler's sweep, the kick after an ack, the worker function) hold to one
 * `concurrency` between them, as the job pool is sized for (one connection per slot, plus
 * one), and so that a kick is served by a pass already claiming instead of a new pass
 * queued behind it.
 *
 * @example
 * const passes = new WorkerPasses();
 * runWorker({ ...options, passes });       // a sweep
 * passes.wake() ?? runWorker({ ...options, passes, budgetMs: 2_000 }); // a kick
 */
export class WorkerPasses {
  /** Jobs running now, in every pass. */
  running = 0;
  /** While requests come first: when the last job of any pass started (monotonic ms). */
  pacedAt = -Infinity;
  readonly #members = new Set<PassMember>();

  /** Adds a pass; returns its leave function. */
  join(member: PassMember): () => void {
    this.#members.add(member);
    return () => void this.#members.delete(member);
  }

  /** A job started in one of the slots. */
  taken(): void {
    this.running += 1;
  }

  /** A job gave its slot back: every pass may start one it holds. */
  freed(): void {
    this.running -= 1;
    for (const member of this.#members) member.nudge();
  }

  /**
   * New jobs are due: the first pass still claiming (every queue) claims again. Null when
   * no pass is; else resolves as that pass's {@link PassMember.wake} does.
   */
  wake(): Promise<boolean> | null {
    for (const member of this.#members) {
      const served = member.wake();
      if (served) return served;
    }
    return null;
  }
}
