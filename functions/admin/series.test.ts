import { describe, expect, it } from 'vitest';
import { histogramQuantile } from './series.ts';

describe('histogramQuantile', () => {
  const bounds = [0.1, 0.5, 1];

  it('interpolates within the bucket the rank falls in, the first starting at 0', () => {
    // 10 observations: 4 up to 0.1, 4 in (0.1, 0.5], 2 in (0.5, 1].
    const counts = [4, 4, 2, 0];
    expect(histogramQuantile(0.2, bounds, counts)).toBeCloseTo(0.05);
    expect(histogramQuantile(0.5, bounds, counts)).toBeCloseTo(0.2);
    expect(histogramQuantile(0.8, bounds, counts)).toBeCloseTo(0.5);
    expect(histogramQuantile(0.9, bounds, counts)).toBeCloseTo(0.75);
    expect(histogramQuantile(1, bounds, counts)).toBeCloseTo(1);
  });

  it('answers the highest bound for a rank among the observations above every bound', () => {
    expect(histogramQuantile(0.99, bounds, [1, 0, 0, 9])).toBe(1);
  });

  it('skips empty buckets and answers null without observations', () => {
    expect(histogramQuantile(0.5, bounds, [0, 0, 4, 0])).toBeCloseTo(0.75);
    expect(histogramQuantile(0.5, bounds, [0, 0, 0, 0])).toBeNull();
    expect(histogramQuantile(0.5, [], [])).toBeNull();
  });
});
