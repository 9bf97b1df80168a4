import { describe, expect, it } from 'vitest';
import { createPoolSlots } from './pool-slots.ts';

/** Slots on a clock the test moves, with every report kept. */
function slots(max: number) {
  let now = 0;
  const reports: { waitedMs: number; busy: number }[] = [];
  const pool = createPoolSlots({
    max,
    now: () => now,
    onSlot: (waitedMs, busy) => reports.push({ waitedMs, busy }),
  });
  return { pool, reports, advance: (ms: number) => (now += ms) };
}

describe('createPoolSlots', () => {
  it('gives a free slot at once: no wait, and the slots taken then', () => {
    const { pool, reports } = slots(2);
    pool.enter();
    pool.enter();
    expect(reports).toEqual([{ waitedMs: 0, busy: 1 }, { waitedMs: 0, busy: 2 }]);
    expect([pool.busy(), pool.waiting()]).toEqual([2, 0]);
  });

  it('makes a call wait, in arrival order, for the next slot given back', () => {
    const { pool, reports, advance } = slots(1);
    const first = pool.enter();
    advance(5);
    const second = pool.enter();
    advance(5);
    pool.enter();
    expect(pool.waiting()).toBe(2);
    advance(10);
    first();
    expect(reports.at(-1)).toEqual({ waitedMs: 15, busy: 1 });
    advance(30);
    second();
    expect(reports.at(-1)).toEqual({ waitedMs: 40, busy: 1 });
    expect([pool.busy(), pool.waiting(), reports.length]).toEqual([1, 0, 3]);
  });

  it('counts a call that settles while waiting as having waited until then, once', () => {
    const { pool, reports, advance } = slots(1);
    const holder = pool.enter();
    const pipelined = pool.enter();
    const next = pool.enter();
    advance(7);
    pipelined();
    pipelined();
    expect(reports.at(-1)).toEqual({ waitedMs: 7, busy: 1 });
    advance(3);
    holder();
    holder();
    // The slot goes to the call still waiting, not to the one already settled.
    expect(reports.at(-1)).toEqual({ waitedMs: 10, busy: 1 });
    next();
    expect([pool.busy(), pool.waiting(), reports.length]).toEqual([0, 0, 3]);
  });

  it('keeps serving in order through a long queue', () => {
    const { pool, reports, advance } = slots(3);
    const leaves = Array.from({ length: 200 }, () => pool.enter());
    for (const leave of leaves) {
      advance(1);
      leave();
    }
    expect(reports).toHaveLength(200);
    expect(reports.slice(0, 3).map((r) => r.waitedMs)).toEqual([0, 0, 0]);
    // Call i (from 3 on) got the slot the (i - 3)th call gave back, at time i - 2.
    expect(reports.slice(3).every((r, i) => r.waitedMs === i + 1)).toBe(true);
    expect([pool.busy(), pool.waiting()]).toEqual([0, 0]);
  });
});
