import { describe, expect, it } from 'vitest';
import { backoffCeiling, backoffDelay, DEFAULT_BACKOFF } from './backoff.ts';

describe('backoff with full jitter', () => {
  it('doubles its ceiling each attempt up to the cap', () => {
    const policy = { baseMs: 1_000, capMs: 10_000 };
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffCeiling(attempt, policy)))
      .toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
    expect(backoffCeiling(10_000, policy)).toBe(10_000);
  });

  it('draws each delay from zero up to the ceiling', () => {
    const policy = { baseMs: 1_000, capMs: 60_000 };
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(2_000);
    expect(backoffDelay(3, policy, () => 0.999_999)).toBe(3_999);
    for (let i = 0; i < 1_000; i += 1) {
      const delay = backoffDelay(4, policy);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(8_000);
    }
  });

  it('spreads jobs that failed together', () => {
    const delays = new Set(Array.from({ length: 100 }, () => backoffDelay(5, DEFAULT_BACKOFF)));
    expect(delays.size).toBeGreaterThan(90);
  });
});
